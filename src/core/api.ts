import { existsSync } from "node:fs";
import type { RuntimeContext } from "./ports.ts";
import { deleteContainerIn } from "./container/delete.ts";
import { stopContainerIn } from "./container/stop.ts";
import { startContainerIn } from "./container/start.ts";
import { createContainerIn } from "./container/create.ts";
import { validateContainerConfig, type ContainerConfig } from "./container/config.ts";
import { repairSandbox } from "./repair.ts";
import { deleteSandboxIn, removeLeftoverSandbox } from "./sandbox/delete.ts";
import { pauseSandboxIn, resumeSandboxIn } from "./sandbox/pause.ts";
import { stopSandboxIn } from "./sandbox/stop.ts";
import { startSandboxIn } from "./sandbox/start.ts";
import { createSandboxIn } from "./sandbox/create.ts";
import { validateSandboxConfig, type SandboxConfig } from "./sandbox/config.ts";
import { NotFoundError } from "../host/errors.ts";
import { withNewSandboxLock, withSandboxLock } from "./lock.ts";
import {
  containerStatusOf,
  findContainer,
  loadSandbox,
  sandboxStatusOf,
  withVm,
  type ContainerStatus,
  type LoadedSandbox,
  type SandboxStatus,
} from "./loaded.ts";
import { guardSandbox, guardContainer } from "./status.ts";
import { sandboxConfigFile, sandboxDir, sandboxLockFile } from "../host/layout.ts";
import { withUndo } from "./undo.ts";
import { assertGuestReachable, ids, locked } from "./api-guards.ts";

/**
 * The virtcontainers entry points (Kata's api.go). Every one takes the
 * runtime context first and follows one shape: validate ids → lock the
 * sandbox (shared to read, exclusive to change) → load → guard the state →
 * work → save. Locks are released on every path. Errors are HuskErrors:
 * E_INVALID_ID, E_NOT_FOUND, E_ALREADY_EXISTS, E_INVALID_STATE, ...
 */

export type { ContainerConfig, ContainerStatus, SandboxConfig, SandboxStatus };
export * from "./api-status.ts";
export { toOciState } from "./loaded.ts";
export * from "./api-processes.ts";

/** fetchSandbox's answer: what is stored, read under the lock. */
export type SandboxSnapshot = LoadedSandbox;

// ---- sandboxes ----

/** Create a sandbox: store its config, boot its VM, create its containers (not started). Sandbox and containers end "ready". */
export async function createSandbox(ctx: RuntimeContext, config: SandboxConfig): Promise<SandboxStatus> {
  validateSandboxConfig(config);
  const sb = await withNewSandboxLock(ctx.root, config.id, () => withUndo((undo) => createSandboxIn(ctx, config, undo)));
  return sandboxStatusOf(sb);
}

/** createSandbox then startSandbox. */
export async function runSandbox(ctx: RuntimeContext, config: SandboxConfig): Promise<SandboxStatus> {
  await createSandbox(ctx, config);
  return startSandbox(ctx, config.id);
}

/** The stored sandbox with its containers, read under the shared lock. */
export async function fetchSandbox(ctx: RuntimeContext, sid: string): Promise<SandboxSnapshot> {
  ids(sid);
  return locked(ctx, sid, "shared", (sb) => sb);
}

/** Start every ready (or stopped) container; a stopped sandbox boots its VM again. Ends "running". */
export async function startSandbox(ctx: RuntimeContext, sid: string): Promise<SandboxStatus> {
  ids(sid);
  return locked(ctx, sid, "exclusive", async (sb) => {
    await startSandboxIn(ctx, sb);
    return sandboxStatusOf(sb);
  });
}

/** Stop (SIGKILL) every container and shut the VM down. Ends "stopped"; files and mounts stay until delete. */
export async function stopSandbox(ctx: RuntimeContext, sid: string): Promise<SandboxStatus> {
  ids(sid);
  return locked(ctx, sid, "exclusive", async (sb) => {
    await stopSandboxIn(ctx, sb);
    return sandboxStatusOf(sb);
  });
}

export interface DeleteOptions {
  /** Delete even if running (stopping it first). */
  force?: boolean;
}

/** Remove the sandbox and every trace of it (VM, mounts, files, container ids); runs poststop. */
export async function deleteSandbox(ctx: RuntimeContext, sid: string, options: DeleteOptions = {}): Promise<void> {
  ids(sid);
  // A create that crashed before writing sandbox.json (or even the lock) leaves a directory only delete can clear.
  if (!existsSync(sandboxLockFile(ctx.root, sid))) {
    if (existsSync(sandboxDir(ctx.root, sid))) return removeLeftoverSandbox(ctx, sid);
    throw new NotFoundError(`sandbox ${sid} not found`, { details: { sandboxId: sid } });
  }
  await withSandboxLock(
    ctx.root,
    sid,
    "exclusive",
    async () => {
      if (!existsSync(sandboxConfigFile(ctx.root, sid))) return removeLeftoverSandbox(ctx, sid);
      await deleteSandboxIn(ctx, loadSandbox(ctx.root, sid), options.force ?? false);
    },
    ctx.lockTimeoutMs === undefined ? {} : { timeoutMs: ctx.lockTimeoutMs },
  );
}

export async function pauseSandbox(ctx: RuntimeContext, sid: string): Promise<SandboxStatus> {
  ids(sid);
  return locked(ctx, sid, "exclusive", async (sb) => {
    await pauseSandboxIn(ctx, sb);
    return sandboxStatusOf(sb);
  });
}

export async function resumeSandbox(ctx: RuntimeContext, sid: string): Promise<SandboxStatus> {
  ids(sid);
  return locked(ctx, sid, "exclusive", async (sb) => {
    await resumeSandboxIn(ctx, sb);
    return sandboxStatusOf(sb);
  });
}

// ---- containers ----

/** Create (not start) a container in a ready or running sandbox. Ends "ready" (OCI "created"). */
export async function createContainer(ctx: RuntimeContext, sid: string, config: ContainerConfig): Promise<ContainerStatus> {
  ids(sid, config.id);
  validateContainerConfig(config);
  return locked(ctx, sid, "exclusive", (sb) => {
    guardSandbox(sid, sb.current.state, "createContainer");
    return withVm(ctx, sb, (vm) => withUndo(async (undo) => containerStatusOf(sb, await createContainerIn(ctx, sb, vm, config, undo))));
  });
}

/** Start a ready (or restart a stopped) container; the sandbox must be ready or running and ends running. */
export async function startContainer(ctx: RuntimeContext, sid: string, cid: string): Promise<ContainerStatus> {
  ids(sid, cid);
  return locked(ctx, sid, "exclusive", async (sb) => {
    const c = findContainer(sb, cid);
    guardSandbox(sid, sb.current.state, "startContainer");
    guardContainer(cid, c.current.state, "start");
    await withVm(ctx, sb, (vm) => startContainerIn(ctx, sb, vm, c));
    return containerStatusOf(sb, c);
  });
}

/** SIGKILL the container's processes and wait for them. Ends "stopped" with the exit code. */
export async function stopContainer(ctx: RuntimeContext, sid: string, cid: string): Promise<ContainerStatus> {
  ids(sid, cid);
  return locked(ctx, sid, "exclusive", async (sb) => {
    const c = findContainer(sb, cid);
    assertGuestReachable(sb, "stop a container in");
    guardContainer(cid, c.current.state, "stop");
    await withVm(ctx, sb, (vm) => stopContainerIn(ctx, sb, vm, c));
    return containerStatusOf(sb, c);
  });
}

/** Delete a ready or stopped container (any state with force). Does not delete the sandbox, even if it was the last one. */
export async function deleteContainer(ctx: RuntimeContext, sid: string, cid: string, options: DeleteOptions = {}): Promise<void> {
  ids(sid, cid);
  await locked(ctx, sid, "exclusive", async (sb) => {
    await repairSandbox(ctx, sb);
    const c = findContainer(sb, cid);
    const force = options.force ?? false;
    guardSandbox(sid, sb.current.state, "deleteContainer");
    if (!force) guardContainer(cid, c.current.state, "delete");
    if (sb.current.state === "stopped") await deleteContainerIn(ctx, sb, undefined, c, force);
    else await withVm(ctx, sb, (vm) => deleteContainerIn(ctx, sb, vm, c, force));
  });
}
