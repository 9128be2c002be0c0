import { existsSync, readdirSync } from "node:fs";
import { randomBytes } from "node:crypto";
import * as v from "valibot";
import type { MethodResponse } from "./agent/protocol.ts";
import type { RuntimeContext } from "./context.ts";
import {
  createContainerIn,
  deleteContainerIn,
  checkSignal,
  killContainerIn,
  sandboxIdOf,
  startContainerIn,
  stopContainerIn,
  validateContainerConfig,
  type ContainerConfig,
} from "./container.ts";
import { placeInHostCgroup } from "./core/host-cgroup.ts";
import { findStale, isStale, repairSandbox } from "./core/repair.ts";
import {
  createSandboxIn,
  deleteSandboxIn,
  removeLeftoverSandbox,
  pauseSandboxIn,
  resumeSandboxIn,
  startSandboxIn,
  stopSandboxIn,
  validateSandboxConfig,
  type SandboxConfig,
} from "./core/sandbox-ops.ts";
import { InvalidSpecError, NotFoundError } from "./errors.ts";
import { ID_PATTERN, validateId } from "./ids.ts";
import type { LaunchIo } from "./launcher.ts";
import { withNewSandboxLock, withSandboxLock, type LockMode } from "./lock.ts";
import { logger } from "./log.ts";
import { issuePath, ProcessSchema, ResourcesSchema, type OciProcess, type OciResources } from "./oci/spec.ts";
import {
  closeQuietly,
  containerStatusOf,
  findContainer,
  loadSandbox,
  moveContainer,
  saveContainerRecord,
  sandboxStatusOf,
  withVm,
  type ContainerStatus,
  type LoadedSandbox,
  type SandboxStatus,
} from "./sandbox.ts";
import { assertState } from "./state.ts";
import { sandboxConfigFile, sandboxDir, sandboxesDir, sandboxLockFile } from "./store.ts";
import { withUndo } from "./undo.ts";

/**
 * The virtcontainers entry points (Kata's api.go). Every one takes the
 * runtime context first and follows one shape: validate ids → lock the
 * sandbox (shared to read, exclusive to change) → load → guard the state →
 * work → save. Locks are released on every path. Errors are HuskErrors:
 * E_INVALID_ID, E_NOT_FOUND, E_ALREADY_EXISTS, E_INVALID_STATE, ...
 */

const log = logger("api");

export type { ContainerConfig, ContainerStatus, SandboxConfig, SandboxStatus };
export { sandboxIdOf as sandboxOfContainer } from "./container.ts";
export { toOciState } from "./sandbox.ts";

/** fetchSandbox's answer: what is stored, read under the lock. */
export type SandboxSnapshot = LoadedSandbox;

function locked<T>(ctx: RuntimeContext, sid: string, mode: LockMode, fn: (sb: LoadedSandbox) => Promise<T> | T): Promise<T> {
  return withSandboxLock(
    ctx.root,
    sid,
    mode,
    () => fn(loadSandbox(ctx.root, sid)),
    ctx.lockTimeoutMs === undefined ? {} : { timeoutMs: ctx.lockTimeoutMs },
  );
}

/**
 * Load for reading; when the stored state is stale (dead shim or VM owner),
 * drop the shared lock, take the exclusive one and repair (re-checking, as
 * someone may have repaired or changed it in between).
 */
async function loadRepaired(ctx: RuntimeContext, sid: string): Promise<LoadedSandbox> {
  const sb = await locked(ctx, sid, "shared", (s) => s);
  if (!isStale(findStale(sb))) return sb;
  return locked(ctx, sid, "exclusive", async (fresh) => {
    await repairSandbox(ctx, fresh);
    return fresh;
  });
}

/** Container operations talk to the guest: its VM must be up and not paused. */
function assertGuestReachable(sb: LoadedSandbox, operation: string): void {
  assertState("sandbox", sb.record.id, sb.state.state, ["ready", "running"], operation);
}

function ids(sid: string, cid?: string): void {
  validateId(sid, "sandbox id");
  if (cid !== undefined) validateId(cid, "container id");
}

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

// ---- containers ----

/** Create (not start) a container in a ready or running sandbox. Ends "ready" (OCI "created"). */
export async function createContainer(ctx: RuntimeContext, sid: string, config: ContainerConfig): Promise<ContainerStatus> {
  ids(sid, config.id);
  validateContainerConfig(config);
  return locked(ctx, sid, "exclusive", (sb) => {
    assertState("sandbox", sid, sb.state.state, ["ready", "running"], "create a container in");
    return withVm(ctx, sb, (vm) => withUndo(async (undo) => containerStatusOf(sb, await createContainerIn(ctx, sb, vm, config, undo))));
  });
}

/** Start a ready (or restart a stopped) container; the sandbox must be ready or running and ends running. */
export async function startContainer(ctx: RuntimeContext, sid: string, cid: string): Promise<ContainerStatus> {
  ids(sid, cid);
  return locked(ctx, sid, "exclusive", async (sb) => {
    const c = findContainer(sb, cid);
    assertState("sandbox", sid, sb.state.state, ["ready", "running"], "start a container in");
    assertState("container", cid, c.state.state, ["ready", "stopped"], "start");
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
    assertState("container", cid, c.state.state, ["ready", "running", "paused"], "stop");
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
    assertState("sandbox", sid, sb.state.state, ["ready", "running", "stopped"], "delete a container in");
    if (!force) assertState("container", cid, c.state.state, ["ready", "stopped"], "delete");
    if (sb.state.state === "stopped") await deleteContainerIn(ctx, sb, undefined, c, force);
    else await withVm(ctx, sb, (vm) => deleteContainerIn(ctx, sb, vm, c, force));
  });
}

export interface EnterOptions {
  process: OciProcess;
  io: LaunchIo;
  /** Defaults to a random id. */
  execId?: string;
}

export interface EnterResult {
  execId: string;
  /** Host pid standing for the process (its shim). */
  pid: number;
  guestPid: number;
  /** Foreground only: the exit code (128+signal when signalled). */
  exited?: Promise<number>;
}

/** Run an extra process in a created (as runc allows) or running container (exec). Shared lock. */
export async function enterContainer(ctx: RuntimeContext, sid: string, cid: string, options: EnterOptions): Promise<EnterResult> {
  ids(sid, cid);
  const execId = options.execId ?? `exec-${randomBytes(6).toString("hex")}`;
  validateId(execId, "exec id");
  const parsed = v.safeParse(ProcessSchema, options.process);
  if (!parsed.success) {
    throw new InvalidSpecError(`process: ${issuePath(parsed.issues[0]) || "(top level)"}: ${parsed.issues[0].message}`);
  }
  return locked(ctx, sid, "shared", async (sb) => {
    const c = findContainer(sb, cid);
    assertGuestReachable(sb, "exec in");
    assertState("container", cid, c.state.state, ["ready", "running"], "exec in");
    const vm = await ctx.backend.connect(sb.record.vm);
    try {
      const r = await ctx.launcher.launch(vm, {
        kind: "exec",
        sandboxId: sid,
        sandboxDir: sb.record.vm.dir,
        containerId: cid,
        execId,
        process: parsed.output,
        io: options.io,
      });
      // As runc: an exec'd process (here its shim) joins the container's cgroup.
      placeInHostCgroup(findContainer(sb, cid).record.spec.linux?.cgroupsPath, [r.pid].filter((p) => p !== process.pid));
      if (r.exited) {
        // The launcher may need the connection until the process ends.
        r.exited.finally(() => closeQuietly(vm)).catch(() => {});
      } else await closeQuietly(vm);
      return { execId, pid: r.pid, guestPid: r.guestPid, ...(r.exited ? { exited: r.exited } : {}) };
    } catch (e) {
      await closeQuietly(vm);
      throw e;
    }
  });
}

/** Status of one container, repaired when stale. */
export async function statusContainer(ctx: RuntimeContext, sid: string, cid: string): Promise<ContainerStatus> {
  ids(sid, cid);
  const sb = await loadRepaired(ctx, sid);
  return containerStatusOf(sb, findContainer(sb, cid));
}

/**
 * Send a signal (number; 0 probes) to the container's init process, or to
 * all its processes. State changes are seen by status. As runc 1.1, `all`
 * on a stopped container succeeds (containerd's runc shim sends `kill --all
 * ID 9` after every stop): what is left in its guest cgroup is signalled
 * when the VM is up, and nothing left is no error; without `all` a stopped
 * container is E_INVALID_STATE. A container whose shim has just gone is
 * repaired (stopped) first.
 */
export async function killContainer(ctx: RuntimeContext, sid: string, cid: string, signal: number, all = false): Promise<void> {
  ids(sid, cid);
  checkSignal(signal);
  await locked(ctx, sid, "exclusive", async (sb) => {
    await repairSandbox(ctx, sb);
    const c = findContainer(sb, cid);
    if (all && c.state.state === "stopped") {
      if (sb.state.state === "ready" || sb.state.state === "running") {
        await withVm(ctx, sb, (vm) => vm.agent.call("signalProcess", { containerId: cid, signal, all: true })).catch((e: unknown) =>
          log.debug(`kill --all ${cid} (stopped): ${(e as Error).message}`),
        );
      }
      return;
    }
    assertGuestReachable(sb, "signal a container in");
    assertState("container", cid, c.state.state, ["ready", "running", "paused"], "kill");
    await withVm(ctx, sb, (vm) => killContainerIn(sb, vm, c, signal, all));
  });
}

export type ProcessInfo = MethodResponse<"listProcesses">["processes"][number];

/** The container's processes as the guest sees them; none once it is stopped (as runc). Shared lock. */
export async function processListContainer(ctx: RuntimeContext, sid: string, cid: string): Promise<ProcessInfo[]> {
  ids(sid, cid);
  return locked(ctx, sid, "shared", async (sb) => {
    const c = findContainer(sb, cid);
    if (c.state.state === "stopped") return [];
    assertGuestReachable(sb, "list processes in");
    assertState("container", cid, c.state.state, ["ready", "running", "paused"], "list processes of");
    return withVm(ctx, sb, async (vm) => (await vm.agent.call("listProcesses", { containerId: cid })).processes);
  });
}

export type ContainerStats = MethodResponse<"stats">;

/** Resource usage of a running or paused container. Shared lock. */
export async function statsContainer(ctx: RuntimeContext, sid: string, cid: string): Promise<ContainerStats> {
  ids(sid, cid);
  return locked(ctx, sid, "shared", async (sb) => {
    const c = findContainer(sb, cid);
    assertGuestReachable(sb, "get stats in");
    assertState("container", cid, c.state.state, ["running", "paused"], "get stats of");
    return withVm(ctx, sb, (vm) => vm.agent.call("stats", { containerId: cid }));
  });
}

/**
 * Call `onOom` each time the guest reports an OOM kill in the container's
 * cgroup, until the returned function is called. The lock is held only to
 * connect: the watch itself is a connection to the monitor, which relays the
 * agent's events to every client.
 */
export async function watchContainerOom(ctx: RuntimeContext, sid: string, cid: string, onOom: () => void): Promise<() => Promise<void>> {
  ids(sid, cid);
  const vm = await locked(ctx, sid, "shared", async (sb) => {
    findContainer(sb, cid);
    assertGuestReachable(sb, "watch events in");
    return ctx.backend.connect(sb.record.vm);
  });
  const off = vm.agent.on("oom", (event) => {
    if (event.containerId === cid) onOom();
  });
  return async () => {
    off();
    await closeQuietly(vm);
  };
}

/** Change a live container's resources (runc update); the stored spec follows. */
export async function updateContainer(ctx: RuntimeContext, sid: string, cid: string, resources: OciResources): Promise<ContainerStatus> {
  ids(sid, cid);
  const parsed = v.safeParse(ResourcesSchema, resources);
  if (!parsed.success) {
    throw new InvalidSpecError(`resources: ${issuePath(parsed.issues[0]) || "(top level)"}: ${parsed.issues[0].message}`);
  }
  return locked(ctx, sid, "exclusive", async (sb) => {
    const c = findContainer(sb, cid);
    assertGuestReachable(sb, "update a container in");
    assertState("container", cid, c.state.state, ["ready", "running", "paused"], "update");
    await withVm(ctx, sb, (vm) => vm.agent.call("updateContainer", { containerId: cid, resources: parsed.output }));
    for (const spec of [c.record.spec, c.record.guestSpec]) {
      if (spec) spec.linux = { ...spec.linux, resources: { ...spec.linux?.resources, ...parsed.output } };
    }
    saveContainerRecord(ctx.root, sid, c);
    return containerStatusOf(sb, c);
  });
}

/** Freeze one running container (runc pause). */
export async function pauseContainer(ctx: RuntimeContext, sid: string, cid: string): Promise<ContainerStatus> {
  ids(sid, cid);
  return locked(ctx, sid, "exclusive", async (sb) => {
    const c = findContainer(sb, cid);
    assertState("sandbox", sid, sb.state.state, ["running"], "pause a container in");
    assertState("container", cid, c.state.state, ["running"], "pause");
    await withVm(ctx, sb, (vm) => vm.agent.call("pauseContainer", { containerId: cid }));
    moveContainer(ctx.root, sid, c, "paused");
    return containerStatusOf(sb, c);
  });
}

/** Thaw one paused container (runc resume). */
export async function resumeContainer(ctx: RuntimeContext, sid: string, cid: string): Promise<ContainerStatus> {
  ids(sid, cid);
  return locked(ctx, sid, "exclusive", async (sb) => {
    const c = findContainer(sb, cid);
    assertState("sandbox", sid, sb.state.state, ["running"], "resume a container in");
    assertState("container", cid, c.state.state, ["paused"], "resume");
    await withVm(ctx, sb, (vm) => vm.agent.call("resumeContainer", { containerId: cid }));
    moveContainer(ctx.root, sid, c, "running");
    return containerStatusOf(sb, c);
  });
}

/**
 * Signal one exec'd process of a container (by its exec id), as the shim v2's
 * Kill with an exec id asks; the init process goes through killContainer.
 */
export async function signalExecProcess(ctx: RuntimeContext, sid: string, cid: string, execId: string, signal: number): Promise<void> {
  ids(sid, cid);
  validateId(execId, "exec id");
  checkSignal(signal);
  await locked(ctx, sid, "shared", async (sb) => {
    findContainer(sb, cid);
    assertGuestReachable(sb, "signal a process in");
    await withVm(ctx, sb, (vm) => vm.agent.call("signalProcess", { containerId: cid, execId, signal }));
  });
}

/** Resize the terminal of a container's init process (no execId) or of one exec'd process. */
export async function resizeProcessTty(
  ctx: RuntimeContext,
  sid: string,
  cid: string,
  execId: string | undefined,
  size: { rows: number; cols: number },
): Promise<void> {
  ids(sid, cid);
  if (execId !== undefined) validateId(execId, "exec id");
  await locked(ctx, sid, "shared", async (sb) => {
    findContainer(sb, cid);
    assertGuestReachable(sb, "resize a terminal in");
    await withVm(ctx, sb, (vm) => vm.agent.call("resizeTty", { containerId: cid, ...(execId ? { execId } : {}), rows: size.rows, cols: size.cols }));
  });
}
