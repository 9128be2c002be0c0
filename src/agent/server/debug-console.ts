import { closeSync } from "node:fs";
import { constants } from "node:os";
import { AgentError } from "../../host/errors.ts";
import type { WaitResult } from "../../host/ffi/process.ts";
import { openpty } from "../../host/ffi/pty.ts";
import { sendFd } from "../../host/ffi/scm.ts";
import { logger } from "../../host/log.ts";
import { trackSpawn } from "./orphans.ts";
import type { RuntimeIo, StartedProcess } from "./runtime.ts";

/**
 * The debug console's shell: /bin/sh (busybox) in the guest's own root and
 * namespaces, as root, outside every container. It takes its stdio the way
 * a container process does (RuntimeIo), so ProcessStdio, resizeTty,
 * signalProcess and waitProcess serve it unchanged: with a terminal this
 * plays crun's part (a new pty, the shell in its own session with the slave
 * as controlling terminal, the master sent to the console socket).
 */

const log = logger("agent");

const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Spawns the shell; replaced in unit tests. */
export type DebugShell = (io: RuntimeIo, env: readonly string[]) => Promise<StartedProcess>;

export function shellEnv(extra: readonly string[]): Record<string, string> {
  const env: Record<string, string> = { PATH, HOME: "/root", TERM: "xterm", PS1: "husk-guest:\\w# " };
  for (const kv of extra) {
    const eq = kv.indexOf("=");
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return env;
}

function waited(proc: { pid: number; exited: Promise<number>; signalCode: NodeJS.Signals | number | null }): Promise<WaitResult> {
  return proc.exited.then((code) => {
    const sc = proc.signalCode;
    const sig = typeof sc === "number" ? sc : sc ? (constants.signals as Record<string, number>)[sc] : undefined;
    return sig ? { pid: proc.pid, exitCode: 128 + sig, signal: sig } : { pid: proc.pid, exitCode: code & 0xff };
  });
}

export const spawnGuestShell: DebugShell = async (io, extraEnv) => {
  const env = shellEnv(extraEnv);
  const sh = "/bin/sh";
  if (io.kind === "fds") {
    const proc = trackSpawn(Bun.spawn([sh], { cwd: "/", env, stdio: [io.stdin, io.stdout, io.stderr] }));
    log.debug(`debug console: ${sh} pid ${proc.pid} (no terminal)`);
    return { pid: proc.pid, exited: waited(proc) };
  }
  const setsid = Bun.which("setsid", { PATH });
  if (!setsid) throw new AgentError("the guest has no setsid to give the debug console a terminal");
  const pty = openpty();
  try {
    // setsid -c: a new session whose controlling terminal is stdin (the pty slave), so ^C and job control work.
    const proc = trackSpawn(Bun.spawn([setsid, "-c", sh], { cwd: "/", env, stdio: [pty.slave, pty.slave, pty.slave] }));
    log.debug(`debug console: ${sh} pid ${proc.pid} on a terminal`);
    closeSync(pty.slave);
    pty.slave = -1;
    try {
      sendFd(io.consoleSocket, pty.master, "/dev/ptmx");
    } catch (e) {
      proc.kill(9);
      throw new AgentError(`debug console: cannot hand over its terminal: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    return { pid: proc.pid, exited: waited(proc) };
  } finally {
    if (pty.slave >= 0) closeSync(pty.slave);
    closeSync(pty.master); // the receiver holds its own copy
  }
};
