import { closeSync, openSync, readFileSync, readlinkSync } from "node:fs";
import { logger } from "../../host/log.ts";
import { QEMU_ENV } from "./args.ts";

/** The only place QEMU is spawned. The caller owns the child: no -daemonize. */

const log = logger("qemu");

export interface ProcessExit {
  code: number | null;
  signal: string | null;
}

export interface QemuProcess {
  readonly pid: number;
  readonly exited: Promise<ProcessExit>;
  /** True until `exited` has resolved. */
  alive(): boolean;
  kill(signal: NodeJS.Signals): void;
}

/** Spawn `argv` (QEMU, or nsenter that execs it) in cwd with stdout+stderr appended to logPath (QEMU's own errors). */
export function spawnQemu(argv: string[], options: { cwd: string; logPath: string }): QemuProcess {
  const fd = openSync(options.logPath, "a", 0o600);
  let child: ReturnType<typeof Bun.spawn>;
  try {
    log.debug(`spawn ${argv.join(" ")}`);
    child = Bun.spawn(argv, { cwd: options.cwd, env: { ...QEMU_ENV }, stdin: "ignore", stdout: fd, stderr: fd });
  } finally {
    closeSync(fd);
  }
  let done = false;
  const exited = child.exited.then((code) => {
    done = true;
    const signal = child.signalCode == null ? null : String(child.signalCode);
    log.debug(`qemu ${child.pid} exited code=${signal ? null : code} signal=${signal}`);
    return { code: signal ? null : code, signal };
  });
  return {
    pid: child.pid,
    exited,
    alive: () => !done,
    kill: (signal) => {
      if (!done) child.kill(signal);
    },
  };
}

export interface ConfinementProbe {
  pid: number;
  /** /proc/<pid>/status and /proc/<pid>/limits, read once QMP answered (QEMU up, its seccomp filter installed). */
  status: string;
  limits: string;
  /** Its network namespace is not the caller's. */
  ownNetns: boolean;
  /** Its mount namespace is not the caller's. */
  ownMntns: boolean;
  /** QEMU's exit after QMP `quit`. */
  exit: ProcessExit;
  /** QEMU's stderr (why it did not start). */
  stderr: string;
}

/**
 * `husk check`: start `argv` (the confined launch command of a QEMU with
 * `-machine none -qmp stdio`), wait for the QMP greeting, negotiate, read
 * its /proc status and limits, then `quit` it. Killed after timeoutMs.
 */
export async function probeConfinedQemu(argv: string[], timeoutMs = 15_000): Promise<ConfinementProbe> {
  log.debug(`probe ${argv.join(" ")}`);
  const child = Bun.spawn(argv, { env: { ...QEMU_ENV }, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const reader = child.stdout.getReader();
  let buffer = "";
  const readReply = async (want: (line: string) => boolean): Promise<boolean> => {
    for (;;) {
      const lines = buffer.split("\n");
      buffer = lines.pop() ?? "";
      if (lines.some(want)) return true;
      if (buffer.length > 1 << 20) return false;
      const { value, done } = await reader.read();
      if (done) return false;
      buffer += new TextDecoder().decode(value);
    }
  };
  let status = "";
  let limits = "";
  let ownNetns = false;
  let ownMntns = false;
  try {
    const send = async (command: string) => {
      child.stdin.write(`${JSON.stringify({ execute: command })}\n`);
      await child.stdin.flush();
    };
    if (await readReply((l) => l.includes('"QMP"'))) {
      await send("qmp_capabilities");
      if (await readReply((l) => l.includes('"return"'))) {
        status = readProc(child.pid, "status");
        limits = readProc(child.pid, "limits");
        ownNetns = nsOf(child.pid, "net") !== nsOf("self", "net");
        ownMntns = nsOf(child.pid, "mnt") !== nsOf("self", "mnt");
        await send("quit");
      }
    }
  } catch (err) {
    log.debug(`probe: ${String(err)}`);
  } finally {
    try {
      await child.stdin.end();
    } catch {
      /* closed */
    }
  }
  const code = await child.exited;
  clearTimeout(timer);
  const stderr = await new Response(child.stderr).text();
  const signal = child.signalCode == null ? null : String(child.signalCode);
  return { pid: child.pid, status, limits, ownNetns, ownMntns, exit: { code: signal ? null : code, signal }, stderr };
}

function nsOf(pid: number | "self", ns: "net" | "mnt"): string {
  try {
    return readlinkSync(`/proc/${pid}/ns/${ns}`);
  } catch {
    return "";
  }
}

function readProc(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, "utf8");
  } catch {
    return "";
  }
}
