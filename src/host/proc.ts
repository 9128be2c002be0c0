import { readFileSync } from "node:fs";
import { pollUntil } from "./time.ts";

/**
 * Process liveness that survives pid reuse: a pid is "ours" only if its
 * start time (field 22 of /proc/<pid>/stat, clock ticks since boot) is the
 * one recorded when we launched it. Zombies count as dead.
 */

interface ProcStat {
  state: string;
  startTime: number | undefined;
}

/** Pure: the state and start time of a /proc/<pid>/stat line. */
export function parseStat(text: string): ProcStat {
  // comm (field 2) may contain spaces and parens: fields resume after the last ')'.
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const start = Number(rest[19]);
  return { state: rest[0] ?? "", startTime: rest[19] !== undefined && Number.isSafeInteger(start) ? start : undefined };
}

function readStat(pid: number): ProcStat | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/** The start time to record beside a pid; undefined when the process is gone. */
export function processStartTime(pid: number): number | undefined {
  return readStat(pid)?.startTime;
}

/** Is pid alive and, when startTime is given, still the process that started then? */
export function isProcessAlive(pid: number, startTime?: number): boolean {
  const stat = readStat(pid);
  if (stat === undefined || stat.state === "Z" || stat.state === "X") return false;
  return startTime === undefined || stat.startTime === startTime;
}

/** Poll until pid is gone (or no longer the process that started at startTime); false on timeout. */
export async function waitForExit(pid: number, timeoutMs: number, startTime?: number): Promise<boolean> {
  return pollUntil(() => !isProcessAlive(pid, startTime), { timeoutMs, intervalMs: 25 });
}
