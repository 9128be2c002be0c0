import { join } from "node:path";
import { QEMU_PID_FILE } from "../../host/layout.ts";
import { pollUntil } from "../../host/time.ts";
import { logger } from "../../host/log.ts";
import { livePid, readPidFile } from "./pidfile.ts";

const log = logger("qemu");
/** A QEMU seen from outside: killing a leftover one by its pid file, and describing how one ended. */

/**
 * Force path for `delete --force` and crashed monitors: SIGKILL the QEMU
 * recorded in <dir>/qemu.pid if that pid is still the same process, wait
 * for it to go. Returns the pid killed, if any.
 */
export async function killQemuByPidFile(dir: string, timeoutMs = 5000): Promise<number | undefined> {
  const file = readPidFile(join(dir, QEMU_PID_FILE));
  if (!file) return undefined;
  const pid = livePid(file);
  if (pid === undefined) return undefined;
  log.warn(`killing leftover qemu ${pid} (from ${dir})`);
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return undefined;
  }
  await pollUntil(() => livePid(file) === undefined, { timeoutMs, intervalMs: 20 });
  return pid;
}

export function describeExit(e: { code: number | null; signal: string | null }): string {
  return e.signal ? `killed by ${e.signal}` : `exit code ${e.code}`;
}

export function tailBlock(title: string, tail: string): string {
  return tail ? `\n--- ${title} (last lines) ---\n${tail}` : "";
}
