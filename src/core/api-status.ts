import { readdirSync } from "node:fs";
import { NotFoundError } from "../host/errors.ts";
import { ID_PATTERN } from "../host/ids.ts";
import { sandboxesDir } from "../host/layout.ts";
import { ids, loadRepaired } from "./api-guards.ts";
import { type ContainerStatus, containerStatusOf, findContainer, type SandboxStatus, sandboxStatusOf } from "./loaded.ts";
import type { RuntimeContext } from "./ports.ts";

/**
 * The read-only entry points (status, list), apart from the operations so
 * that `husk state` and `husk list`, which containerd and podman call
 * constantly, load none of them. ./api.ts re-exports them.
 */

export { sandboxIdOf as sandboxOfContainer } from "./container/ids.ts";

/** Status of a sandbox and its containers, repaired when stale. */
export async function statusSandbox(ctx: RuntimeContext, sid: string): Promise<SandboxStatus> {
  ids(sid);
  return sandboxStatusOf(await loadRepaired(ctx, sid));
}

/** Every sandbox under the root, sorted by id; ones deleted or half-created meanwhile are skipped. */
export async function listSandbox(ctx: RuntimeContext): Promise<SandboxStatus[]> {
  let names: string[];
  try {
    names = readdirSync(sandboxesDir(ctx.root));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const out: SandboxStatus[] = [];
  for (const sid of names.filter((n) => ID_PATTERN.test(n)).sort()) {
    try {
      out.push(await statusSandbox(ctx, sid));
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
  }
  return out;
}

/** Status of one container, repaired when stale. */
export async function statusContainer(ctx: RuntimeContext, sid: string, cid: string): Promise<ContainerStatus> {
  ids(sid, cid);
  const sb = await loadRepaired(ctx, sid);
  return containerStatusOf(sb, findContainer(sb, cid));
}
