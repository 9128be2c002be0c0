import type { RuntimeContext } from "./ports.ts";
import { findStale, isStale, repairSandbox } from "./repair.ts";
import { validateId } from "../host/ids.ts";
import { withSandboxLock, type LockMode } from "./lock.ts";
import { loadSandbox, type LoadedSandbox } from "./loaded.ts";
import { assertStatus, GUEST_REACHABLE } from "./status.ts";

/** The shape every entry point shares (./api.ts): lock, load, repair, guard. */

export function locked<T>(
  ctx: RuntimeContext,
  sid: string,
  mode: LockMode,
  fn: (sb: LoadedSandbox) => Promise<T> | T,
  deferSpecs = false,
): Promise<T> {
  return withSandboxLock(
    ctx.root,
    sid,
    mode,
    () => fn(loadSandbox(ctx.root, sid, deferSpecs)),
    ctx.lockTimeoutMs === undefined ? {} : { timeoutMs: ctx.lockTimeoutMs },
  );
}

/**
 * Load for reading; when the stored state is stale (dead shim or VM owner),
 * drop the shared lock, take the exclusive one and repair (re-checking, as
 * someone may have repaired or changed it in between). Status reads no
 * spec: they are checked when used, and all of them before a repair.
 */
export async function loadRepaired(ctx: RuntimeContext, sid: string): Promise<LoadedSandbox> {
  const sb = await locked(ctx, sid, "shared", (s) => s, true);
  if (!isStale(findStale(sb))) return sb;
  return locked(ctx, sid, "exclusive", async (fresh) => {
    await repairSandbox(ctx, fresh);
    return fresh;
  });
}

/** Container operations talk to the guest: its VM must be up and not paused. */
export function assertGuestReachable(sb: LoadedSandbox, operation: string): void {
  assertStatus("sandbox", sb.record.id, sb.current.state, GUEST_REACHABLE, operation);
}

export function ids(sid: string, cid?: string): void {
  validateId(sid, "sandbox id");
  if (cid !== undefined) validateId(cid, "container id");
}
