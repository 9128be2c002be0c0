import { readFileSync } from "node:fs";
import * as v from "valibot";
import { logger } from "../../host/log.ts";
import { writeJsonAtomic } from "../../host/json-file.ts";
import { isProcessAlive, processStartTime } from "../../host/proc.ts";

/**
 * <dir>/qemu.pid: who to kill when the process that started QEMU is gone
 * (monitor crashed, `delete --force`). Holds the pid and the process start
 * time from /proc so a recycled pid is never killed by mistake.
 */

const log = logger("qemu");

const PidFileSchema = v.strictObject({
  pid: v.pipe(v.number(), v.integer(), v.minValue(1)),
  /** Clock ticks since boot as decimal text, "" when unknown (then only the pid is checked). */
  startTime: v.pipe(
    v.union([v.literal(""), v.pipe(v.string(), v.digits())]),
    v.transform((s) => (s === "" ? undefined : Number(s))),
  ),
  qmpSocket: v.string(),
});
export type PidFile = v.InferOutput<typeof PidFileSchema>;

export function writePidFile(path: string, pid: number, qmpSocket: string): void {
  const startTime = String(processStartTime(pid) ?? "");
  writeJsonAtomic(path, { pid, startTime, qmpSocket } satisfies v.InferInput<typeof PidFileSchema>);
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

/** The pid file's process, if it is still the same QEMU (pid and start time match) and not a zombie. */
export function livePid(file: PidFile): number | undefined {
  return isProcessAlive(file.pid, file.startTime) ? file.pid : undefined;
}
