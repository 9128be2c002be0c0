import { readFileSync } from "node:fs";

/**
 * Is pid alive (and, if given, still the process that started at startTime)?
 * Zombies count as dead: a monitor that exited but is not yet reaped is gone.
 */
export function processAlive(pid: number, startTime?: string): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return false;
  }
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (rest[0] === "Z" || rest[0] === "X") return false;
  return startTime === undefined || startTime === "" || rest[19] === startTime;
}

export async function waitForExit(pid: number, timeoutMs: number, startTime?: string): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (processAlive(pid, startTime)) {
    if (Date.now() >= deadline) return false;
    await Bun.sleep(25);
  }
  return true;
}
