import { readFileSync } from "node:fs";
import * as v from "valibot";
import { logger } from "../../host/log.ts";
import { writeJsonAtomic } from "../../host/json-file.ts";

/**
 * <dir>/qemu.pid: who to kill when the process that started QEMU is gone
 * (monitor crashed, `delete --force`). Holds the pid and the process start
 * time from /proc so a recycled pid is never killed by mistake.
 */

const log = logger("qemu");

const PidFileSchema = v.strictObject({
  pid: v.pipe(v.number(), v.integer(), v.minValue(1)),
  startTime: v.string(),
  qmpSocket: v.string(),
});
export type PidFile = v.InferOutput<typeof PidFileSchema>;

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or undefined if gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    return parseStatStartTime(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/** Pure: the comm field may hold spaces and parens, so split after the last ")". */
export function parseStatStartTime(stat: string): string | undefined {
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); start time is field 22.
  return rest[19];
}

export function writePidFile(path: string, pid: number, qmpSocket: string): void {
  const startTime = processStartTime(pid) ?? "";
  writeJsonAtomic(path, { pid, startTime, qmpSocket } satisfies PidFile);
}

export function readPidFile(path: string): PidFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  try {
    const parsed = v.safeParse(PidFileSchema, JSON.parse(text));
    if (parsed.success) return parsed.output;
  } catch {
    /* fall through */
  }
  log.warn(`ignoring malformed pid file ${path}`);
  return undefined;
}

/** The pid file's process, if it is still the same QEMU (pid and start time match). */
export function livePid(file: PidFile): number | undefined {
  const now = processStartTime(file.pid);
  if (now === undefined || (file.startTime !== "" && now !== file.startTime)) return undefined;
  return file.pid;
}
