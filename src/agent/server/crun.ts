import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { AgentError, type HuskError } from "../../host/errors.ts";
import { constants } from "node:os";
import type { WaitResult } from "../../host/ffi/process.ts";
import { logger } from "../../host/log.ts";
import type { OciProcess, OciResources } from "../../oci/spec.ts";
import type { ContainerRuntime, RuntimeIo, StartedProcess } from "./runtime.ts";
import { trackSpawn } from "./orphans.ts";

const log = logger("agent-crun");

export interface CrunOptions {
  /** crun executable (default "crun" on PATH). */
  binary?: string;
  /** crun --root: its state directory. */
  root: string;
  /** Extra global flags (tests use --cgroup-manager=...). */
  globalArgs?: string[];
}

const PidsSchema = v.pipe(v.array(v.pipe(v.number(), v.integer(), v.minValue(1))), v.maxLength(65536));

/**
 * ContainerRuntime over the crun CLI in the guest. crun's own errors go to
 * a per-command log file (its stderr may be the container's stderr pipe),
 * and are quoted in the AgentError when a command fails.
 */
export class CrunRuntime implements ContainerRuntime {
  private readonly binary: string;
  private seq = 0;

  constructor(private readonly opts: CrunOptions) {
    this.binary = opts.binary ?? "crun";
    mkdirSync(opts.root, { recursive: true, mode: 0o700 });
  }

  private logFile(): string {
    return join(this.opts.root, `cmd-${process.pid}-${++this.seq}.log`);
  }

  private base(logFile: string): string[] {
    return [this.binary, "--root", this.opts.root, "--log", `file:${logFile}`, ...(this.opts.globalArgs ?? [])];
  }

  private failure(what: string, logFile: string, code: number | null, stderr = ""): HuskError {
    let text = "";
    try {
      text = readFileSync(logFile, "utf8");
    } catch {
      // no log written
    }
    const detail = (text.trim() || stderr.trim()).split("\n").slice(-5).join("; ").slice(0, 2000);
    return new AgentError(`crun ${what} failed (exit ${code})${detail ? `: ${detail}` : ""}`, { details: { exitCode: code } });
  }

  /** Run a crun command to completion, stdio detached; returns stdout. */
  private async run(args: string[], what: string): Promise<string> {
    const logFile = this.logFile();
    log.debug(`crun ${args.join(" ")}`);
    const proc = trackSpawn(Bun.spawn([...this.base(logFile), ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" }));
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    try {
      if (code !== 0) throw this.failure(what, logFile, code, err);
      return out;
    } finally {
      rmSync(logFile, { force: true });
    }
  }

  private stdio(io: RuntimeIo): [number | "ignore", number | "ignore", number | "ignore"] {
    return io.kind === "fds" ? [io.stdin, io.stdout, io.stderr] : ["ignore", "ignore", "ignore"];
  }

  async create(containerId: string, bundleDir: string, io: RuntimeIo): Promise<StartedProcess> {
    const pidFile = join(bundleDir, "init.pid");
    const logFile = this.logFile();
    const args = ["create", "--bundle", bundleDir, "--pid-file", pidFile];
    if (io.kind === "terminal") args.push("--console-socket", io.consoleSocket);
    args.push(containerId);
    log.debug(`crun ${args.join(" ")}`);
    const proc = trackSpawn(Bun.spawn([...this.base(logFile), ...args], { stdio: this.stdio(io) }));
    const code = await proc.exited;
    try {
      if (code !== 0) throw this.failure("create", logFile, code);
      return { pid: readPid(pidFile) };
    } finally {
      rmSync(logFile, { force: true });
    }
  }

  async start(containerId: string): Promise<void> {
    await this.run(["start", containerId], "start");
  }

  async exec(containerId: string, execId: string, bundleDir: string, process: OciProcess, io: RuntimeIo): Promise<StartedProcess> {
    const processFile = join(bundleDir, `exec-${execId}.json`);
    const pidFile = join(bundleDir, `exec-${execId}.pid`);
    rmSync(pidFile, { force: true });
    writeFileSync(processFile, JSON.stringify(process), { mode: 0o600 });
    const logFile = this.logFile();
    const args = ["exec", "--process", processFile, "--pid-file", pidFile];
    if (io.kind === "terminal") args.push("--tty", "--console-socket", io.consoleSocket);
    args.push(containerId);
    log.debug(`crun ${args.join(" ")}`);
    // Foreground: crun waits for the process and exits with its status (128+signal when killed).
    const proc = trackSpawn(Bun.spawn([...this.base(logFile), ...args], { stdio: this.stdio(io) }));
    let done = false;
    let failed: HuskError | undefined;
    const exited = proc.exited.then((code): WaitResult => {
      done = true;
      // crun's reason for a failed start (no such executable...) is in its log: read it before the log goes.
      if (!existsSync(pidFile)) failed = this.failure("exec", logFile, code);
      rmSync(processFile, { force: true });
      rmSync(logFile, { force: true });
      // crun itself killed (should not happen): report it like a signalled process
      const sig = proc.signalCode ? (constants.signals as Record<string, number>)[proc.signalCode] : undefined;
      return sig ? { pid: proc.pid, exitCode: 128 + sig, signal: sig } : { pid: proc.pid, exitCode: code & 0xff };
    });
    // The pid file appears once the process runs; crun exiting first means it failed (or was instant).
    for (;;) {
      if (existsSync(pidFile)) {
        const text = readFileSync(pidFile, "utf8").trim();
        if (/^\d+$/.test(text)) {
          const pid = Number(text);
          return { pid, exited: exited.then((r) => ({ ...r, pid })) };
        }
      }
      if (done) {
        const code = proc.exitCode;
        if (existsSync(pidFile)) continue; // written just before exiting
        throw failed ?? this.failure("exec", logFile, code);
      }
      await Bun.sleep(5);
    }
  }

  async kill(containerId: string, signal: number, all: boolean): Promise<void> {
    await this.run(["kill", ...(all ? ["--all"] : []), containerId, String(signal)], "kill");
  }

  async delete(containerId: string, force: boolean): Promise<void> {
    await this.run(["delete", ...(force ? ["--force"] : []), containerId], "delete");
  }

  async pause(containerId: string): Promise<void> {
    await this.run(["pause", containerId], "pause");
  }

  async resume(containerId: string): Promise<void> {
    await this.run(["resume", containerId], "resume");
  }

  async pids(containerId: string): Promise<number[]> {
    const out = await this.run(["ps", "--format", "json", containerId], "ps");
    const parsed = v.safeParse(PidsSchema, JSON.parse(out || "[]"));
    if (!parsed.success) throw new AgentError(`crun ps printed an unexpected list: ${out.slice(0, 200)}`);
    return parsed.output;
  }

  async update(containerId: string, bundleDir: string, resources: OciResources): Promise<void> {
    const file = join(bundleDir, "update.json");
    writeFileSync(file, JSON.stringify(resources), { mode: 0o600 });
    try {
      await this.run(["update", "--resources", file, containerId], "update");
    } finally {
      rmSync(file, { force: true });
    }
  }
}

function readPid(pidFile: string): number {
  const text = readFileSync(pidFile, "utf8").trim();
  if (!/^\d+$/.test(text)) throw new AgentError(`crun wrote no pid to ${pidFile}`);
  return Number(text);
}
