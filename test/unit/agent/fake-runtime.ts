import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { closeFd, openPty, setWindowSize, type WaitResult } from "../../../src/host/ffi/process.ts";
import { sendFd } from "../../../src/host/ffi/scm.ts";
import type { OciProcess, OciResources, OciSpec } from "../../../src/oci/spec.ts";
import type { ContainerRuntime, RuntimeIo, StartedProcess } from "../../../src/agent/server/runtime.ts";
import { NotFoundError } from "../../../src/host/errors.ts";

/**
 * Runs "containers" as plain host processes: create spawns the process
 * blocked until start; exec spawns directly. Terminals are real ptys whose
 * master is sent over the console socket, like crun does.
 */
export class FakeRuntime implements ContainerRuntime {
  calls: string[] = [];
  procs = new Map<string, { proc: ReturnType<typeof Bun.spawn>; startFile: string }>();

  private spawn(
    args: string[],
    io: RuntimeIo,
    gate?: string,
    size?: { height: number; width: number },
  ): { proc: ReturnType<typeof Bun.spawn>; exited: Promise<WaitResult> } {
    const argv = gate ? ["sh", "-c", `while [ ! -e ${gate} ]; do sleep 0.01; done; exec "$@"`, "sh", ...args] : args;
    let fds: [number, number, number];
    let cleanup = () => {};
    if (io.kind === "fds") fds = [io.stdin, io.stdout, io.stderr];
    else {
      const { master, slavePath } = openPty();
      // like crun: the terminal has process.consoleSize before the process runs
      if (size) setWindowSize(master, size.height, size.width);
      const slave = openSync(slavePath, "r+");
      fds = [slave, slave, slave];
      sendFd(io.consoleSocket, master, slavePath);
      cleanup = () => {
        closeSync(slave);
        closeFd(master);
      };
    }
    const proc = Bun.spawn(argv, { stdio: fds });
    cleanup();
    const exited = proc.exited.then((): WaitResult => {
      const sig = proc.signalCode ? (require("node:os").constants.signals[proc.signalCode] as number) : undefined;
      return sig ? { pid: proc.pid, exitCode: 128 + sig, signal: sig } : { pid: proc.pid, exitCode: proc.exitCode ?? 255 };
    });
    return { proc, exited };
  }

  async create(id: string, bundleDir: string, io: RuntimeIo): Promise<StartedProcess> {
    this.calls.push(`create ${id}`);
    const spec = JSON.parse(readFileSync(join(bundleDir, "config.json"), "utf8")) as OciSpec;
    const startFile = join(bundleDir, "started");
    const { proc, exited } = this.spawn(spec.process!.args!, io, startFile, spec.process!.consoleSize);
    this.procs.set(id, { proc, startFile });
    return { pid: proc.pid, exited };
  }

  private get(id: string) {
    const p = this.procs.get(id);
    if (!p) throw new NotFoundError(`fake: no container ${id}`);
    return p;
  }

  async start(id: string): Promise<void> {
    this.calls.push(`start ${id}`);
    writeFileSync(this.get(id).startFile, "");
  }

  async exec(id: string, execId: string, _bundleDir: string, process: OciProcess, io: RuntimeIo): Promise<StartedProcess> {
    this.calls.push(`exec ${id} ${execId}`);
    this.get(id);
    const { proc, exited } = this.spawn(process.args!, io, undefined, process.consoleSize);
    return { pid: proc.pid, exited };
  }

  async kill(id: string, signal: number, all: boolean): Promise<void> {
    this.calls.push(`kill ${id} ${signal}${all ? " all" : ""}`);
    this.get(id).proc.kill(signal);
  }

  async delete(id: string, force: boolean): Promise<void> {
    this.calls.push(`delete ${id}${force ? " force" : ""}`);
    const p = this.procs.get(id);
    if (p && force && p.proc.exitCode === null) p.proc.kill(9);
    this.procs.delete(id);
  }

  async pause(id: string): Promise<void> {
    this.calls.push(`pause ${id}`);
    this.get(id).proc.kill("SIGSTOP");
  }

  async resume(id: string): Promise<void> {
    this.calls.push(`resume ${id}`);
    this.get(id).proc.kill("SIGCONT");
  }

  async pids(id: string): Promise<number[]> {
    return [this.get(id).proc.pid];
  }

  async update(id: string, _bundleDir: string, resources: OciResources): Promise<void> {
    this.calls.push(`update ${id} ${JSON.stringify(resources)}`);
  }
}
