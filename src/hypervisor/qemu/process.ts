import { closeSync, openSync } from "node:fs";
import { logger } from "../../log.ts";

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
    child = Bun.spawn(argv, { cwd: options.cwd, stdin: "ignore", stdout: fd, stderr: fd });
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
