import { statsContainer, statusContainer, type ContainerStats } from "../../api.ts";
import type { RuntimeContext } from "../../context.ts";

/**
 * runc events: JSON lines {"type":"stats","id":...,"data":{...}}, once with
 * --stats or every interval until the container stops. The data keeps
 * runc's shape for the counters the guest reports (cpu, memory, pids).
 */

export function runcStats(s: ContainerStats): Record<string, unknown> {
  return {
    cpu: { usage: { total: s.cpu.usageUsec * 1000, user: s.cpu.userUsec * 1000, kernel: s.cpu.systemUsec * 1000 } },
    memory: { usage: { usage: s.memory.usageBytes, ...(s.memory.limitBytes !== undefined ? { limit: s.memory.limitBytes } : {}) } },
    pids: { current: s.pids.current, ...(s.pids.limit !== undefined ? { limit: s.pids.limit } : {}) },
  };
}

export async function streamEvents(
  ctx: RuntimeContext,
  sid: string,
  id: string,
  options: { once: boolean; intervalMs: number },
  emit: (line: string) => void,
): Promise<void> {
  for (;;) {
    const st = await statusContainer(ctx, sid, id);
    if (st.state === "stopped") return;
    if (st.state === "running" || st.state === "paused") {
      const data = runcStats(await statsContainer(ctx, sid, id));
      emit(JSON.stringify({ type: "stats", id, data }));
    }
    if (options.once) return;
    await Bun.sleep(options.intervalMs);
  }
}
