import type { RuntimeContext } from "../ports.ts";
import type { VmHandle } from "../ports.ts";
import { moveContainer, type LoadedContainer, type LoadedSandbox } from "../loaded.ts";
import { guardSandbox, guardContainer } from "../status.ts";

/** SIGKILL every process of the container and wait for its init to exit. */
export async function stopContainerIn(ctx: RuntimeContext, sb: LoadedSandbox, vm: VmHandle, c: LoadedContainer): Promise<void> {
  const cid = c.record.id;
  guardSandbox(sb.record.id, sb.current.state, "stopContainer");
  guardContainer(cid, c.current.state, "stop");
  await vm.agent.call("signalProcess", { containerId: cid, signal: 9, all: true });
  const r = await vm.agent.call("waitProcess", { containerId: cid }, { timeoutMs: ctx.config.hypervisor.stop_timeout_ms });
  moveContainer(ctx.root, sb.record.id, c, "stopped", { exitCode: r.signal ? 128 + r.signal : r.exitCode });
}
