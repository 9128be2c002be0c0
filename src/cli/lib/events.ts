import { statsContainer, statusContainer, watchContainerOom, type ContainerStats } from "../../core/api.ts";
import type { RuntimeContext } from "../../core/ports.ts";

/**
 * runc events: JSON lines {"type":"stats","id":...,"data":{...}}, once with
 * --stats or every interval until the container stops, and {"type":"oom",
 * "id":...} as soon as the guest reports an OOM kill in the container. The
 * data keeps runc's shape for the counters the guest reports (cpu, memory,
 * pids).
 */

/** After the container stopped, how long an OOM report (sent as its init died) may still be on its way. */
const OOM_GRACE_MS = 500;

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
  if (options.once) {
    const st = await statusContainer(ctx, sid, id);
    if (st.state === "running" || st.state === "paused")
      emit(JSON.stringify({ type: "stats", id, data: runcStats(await statsContainer(ctx, sid, id)) }));
    return;
  }
  const first = await statusContainer(ctx, sid, id);
  if (first.state === "stopped") return;
  const unwatch = await watchContainerOom(ctx, sid, id, () => emit(JSON.stringify({ type: "oom", id })));
  try {
    for (;;) {
      const st = await statusContainer(ctx, sid, id);
      if (st.state === "stopped") {
        await Bun.sleep(OOM_GRACE_MS);
        return;
      }
      if (st.state === "running" || st.state === "paused") {
        try {
          emit(JSON.stringify({ type: "stats", id, data: runcStats(await statsContainer(ctx, sid, id)) }));
        } catch (e) {
          // Stopped between the two calls: the next round ends the stream.
          if ((await statusContainer(ctx, sid, id)).state !== "stopped") throw e;
          continue;
        }
      }
      await Bun.sleep(options.intervalMs);
    }
  } finally {
    await unwatch();
  }
}
