import type { RuntimeContext } from "../ports.ts";
import { stopContainerIn } from "../container/stop.ts";
import { moveContainer, moveSandbox, vmAlive, withVm, type LoadedSandbox } from "../loaded.ts";
import { guardSandbox } from "../status.ts";

/** Stop every container (SIGKILL), then the VM. */
export async function stopSandboxIn(ctx: RuntimeContext, sb: LoadedSandbox): Promise<void> {
  const sid = sb.record.id;
  guardSandbox(sid, sb.current.state, "stop");
  if (vmAlive(sb)) {
    await withVm(ctx, sb, async (vm) => {
      if (sb.current.state === "paused") {
        await vm.resume();
        moveSandbox(ctx.root, sb, "running");
      }
      for (const c of sb.containers) {
        if (c.current.state !== "stopped") await stopContainerIn(ctx, sb, vm, c);
      }
      await vm.stop();
    });
  } else {
    for (const c of sb.containers) if (c.current.state !== "stopped") moveContainer(ctx.root, sid, c, "stopped");
  }
  moveSandbox(ctx.root, sb, "stopped");
}
