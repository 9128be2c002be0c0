import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { getPid, reapPid } from "../../host/ffi/process.ts";
import { logger } from "../../host/log.ts";
import { parseStat } from "./procfs.ts";

const log = logger("agent-reaper");

/** Pids Bun spawned for the agent and still owns: never reaped behind Bun's back. */
export const ownChildren = new Set<number>();

/** Register a Bun.spawn'd process until it exits. */
export function trackSpawn<T extends { pid: number; exited: Promise<number> }>(proc: T): T {
  ownChildren.add(proc.pid);
  void proc.exited.finally(() => ownChildren.delete(proc.pid));
  return proc;
}

/**
 * As child subreaper the agent inherits every orphan below it, e.g. the
 * processes of a container whose init was killed. Nobody waits for those:
 * reap zombie children that are neither Bun's (ownChildren) nor watched
 * (a container init), and only once they have stayed zombies for a whole
 * interval, so Bun always gets to reap its own first.
 */
export class OrphanSweeper {
  private timer: ReturnType<typeof setInterval> | undefined;
  private seen = new Set<number>();

  constructor(
    private readonly isWatched: (pid: number) => boolean,
    private readonly intervalMs = 2000,
    private readonly procRoot = "/proc",
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.sweep().catch((e) => log.debug(`sweep: ${String(e)}`)), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One pass; returns the pids reaped. */
  async sweep(): Promise<number[]> {
    const me = getPid();
    const zombies = new Set<number>();
    for (const name of await readdir(this.procRoot)) {
      if (!/^\d+$/.test(name)) continue;
      const stat = await readFile(join(this.procRoot, name, "stat"), "utf8").catch(() => null);
      const f = stat === null ? null : parseStat(stat);
      if (f && f.ppid === me && f.state === "Z" && !ownChildren.has(f.pid) && !this.isWatched(f.pid)) zombies.add(f.pid);
    }
    const reaped: number[] = [];
    for (const pid of zombies) {
      if (!this.seen.has(pid)) continue;
      try {
        if (reapPid(pid)) reaped.push(pid);
      } catch {
        // already reaped by someone else
      }
    }
    this.seen = zombies;
    if (reaped.length) log.debug(`reaped orphans: ${reaped.join(" ")}`);
    return reaped;
  }
}
