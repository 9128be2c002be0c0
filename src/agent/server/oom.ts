import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseKeyValues } from "./procfs.ts";

/**
 * Emits `oom` when a container's cgroup v2 `memory.events` oom_kill count
 * grows. Polled (1 s): inotify on cgroup files needs more ffi than it is
 * worth for an advisory event.
 */
export class OomWatcher {
  private watched = new Map<string, { dir: string; kills: number }>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly onOom: (containerId: string) => void,
    private readonly intervalMs = 1000,
  ) {}

  async add(containerId: string, cgroupDir: string): Promise<void> {
    this.watched.set(containerId, { dir: cgroupDir, kills: await oomKills(cgroupDir) });
    this.timer ??= setInterval(() => void this.poll(), this.intervalMs);
  }

  /**
   * The container's init exited: one last look before forgetting it. An OOM
   * kill of the init itself ends the container within the same second, so
   * the timer would usually miss it.
   */
  async finish(containerId: string): Promise<void> {
    const w = this.watched.get(containerId);
    if (w) {
      const kills = await oomKills(w.dir);
      if (kills > w.kills) this.onOom(containerId);
    }
    this.remove(containerId);
  }

  remove(containerId: string): void {
    this.watched.delete(containerId);
    if (this.watched.size === 0) this.stop();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One check of every container (the timer calls this; tests too). */
  async poll(): Promise<void> {
    for (const [id, w] of this.watched) {
      const kills = await oomKills(w.dir);
      if (kills > w.kills) this.onOom(id);
      w.kills = Math.max(w.kills, kills);
    }
  }
}

async function oomKills(dir: string): Promise<number> {
  try {
    return parseKeyValues(await readFile(join(dir, "memory.events"), "utf8")).get("oom_kill") ?? 0;
  } catch {
    return 0; // no memory controller, or the cgroup is gone
  }
}
