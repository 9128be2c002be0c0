import type { RuntimeContext } from "../ports.ts";
import { startContainerIn } from "../container/start.ts";
import { closeQuietly, moveSandbox, withVm, type LoadedSandbox } from "../loaded.ts";
import { guardSandbox } from "../status.ts";
import { processStartTime } from "../../host/proc.ts";

/** Start every container; a stopped sandbox boots its VM again first. */
export async function startSandboxIn(ctx: RuntimeContext, sb: LoadedSandbox): Promise<void> {
  const sid = sb.record.id;
  guardSandbox(sid, sb.current.state, "start");
  if (sb.current.state === "stopped") {
    const vm = await ctx.backend.boot(sb.record.vm);
    const vmPidStart = processStartTime(vm.pid);
    sb.current = { ...sb.current, vmPid: vm.pid };
    if (vmPidStart !== undefined) sb.current.vmPidStart = vmPidStart;
    else delete sb.current.vmPidStart;
    await closeQuietly(vm);
    moveSandbox(ctx.root, sb, "running");
  }
  await withVm(ctx, sb, async (vm) => {
    for (const c of sb.containers) {
      if (c.current.state === "ready" || c.current.state === "stopped") await startContainerIn(ctx, sb, vm, c);
    }
  });
  if (sb.current.state === "ready") moveSandbox(ctx.root, sb, "running");
}
