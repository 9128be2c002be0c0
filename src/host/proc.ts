import { readFileSync } from "node:fs";

/**
 * Process liveness that survives pid reuse: a pid is "ours" only if its
 * start time (field 22 of /proc/<pid>/stat, clock ticks since boot) is the
 * one recorded when we launched it. Zombies count as dead.
 */

interface ProcStat {
  state: string;
  startTime: number;
}

function readStat(pid: number): ProcStat | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // comm (field 2) may contain spaces and parens: fields resume after the last ')'.
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const state = rest[0] ?? "";
  const startTime = Number(rest[19]);
  return { state, startTime };
}

export function processStartTime(pid: number): number | undefined {
  return readStat(pid)?.startTime;
}

export function isProcessAlive(pid: number, startTime?: number): boolean {
  const stat = readStat(pid);
  if (stat === undefined || stat.state === "Z" || stat.state === "X") return false;
  return startTime === undefined || stat.startTime === startTime;
}
