import { sandboxOfContainer, statusContainer } from "../core/api-status.ts";
import type { ContainerStatus } from "../core/loaded.ts";
import type { RuntimeContext } from "../core/ports.ts";
import { validateId } from "../host/ids.ts";

/**
 * The container's sandbox and status (status repaired when its shim is gone):
 * all `husk state` needs, without loading the operations.
 */
export async function containerById(ctx: RuntimeContext, id: string): Promise<{ sid: string; status: ContainerStatus }> {
  validateId(id, "container id");
  const sid = sandboxOfContainer(ctx.root, id);
  return { sid, status: await statusContainer(ctx, sid, id) };
}
