import type { MethodResponse } from "../agent/protocol.ts";
import type { RuntimeContext } from "./ports.ts";
import { checkSignal, killContainerIn } from "./container/kill.ts";
import { placeInHostCgroup } from "../host/cgroup.ts";
import { repairSandbox } from "./repair.ts";
import { InvalidSpecError } from "../host/errors.ts";
import { validateId } from "../host/ids.ts";
import type { LaunchIo } from "./ports.ts";
import { logger } from "../host/log.ts";
import { ProcessSchema, ResourcesSchema, type OciProcess, type OciResources } from "../oci/spec.ts";
import { parseValid } from "../host/valid.ts";
import {
  closeQuietly,
  containerStatusOf,
  findContainer,
  moveContainer,
  saveContainerRecord,
  withVm,
  type ContainerStatus,
} from "./loaded.ts";
import { guardSandbox, guardContainer } from "./status.ts";
import { assertGuestReachable, ids, locked } from "./api-guards.ts";

/** The entry points on a container's processes (exec, signals, ps, stats, limits, pause); see ./api.ts. */

const log = logger("api");

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
  const execId = options.execId ?? `exec-${Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString("hex")}`;
  validateId(execId, "exec id");
  const process = parseValid(ProcessSchema, options.process, InvalidSpecError, "process");
  return locked(ctx, sid, "shared", async (sb) => {
    const c = findContainer(sb, cid);
    assertGuestReachable(sb, "exec in");
    guardContainer(cid, c.current.state, "exec");
    const vm = await ctx.backend.connect(sb.record.vm);
    try {
      const r = await ctx.launcher.launch(vm, {
        kind: "exec",
        sandboxId: sid,
        sandboxDir: sb.record.vm.dir,
        containerId: cid,
        execId,
        process,
        io: options.io,
      });
      // As runc: an exec'd process (here its shim) joins the container's cgroup.
      placeInHostCgroup(
        findContainer(sb, cid).record.spec.linux?.cgroupsPath,
        [r.pid].filter((p) => p !== process.pid),
      );
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
    if (all && c.current.state === "stopped") {
      if (sb.current.state === "ready" || sb.current.state === "running") {
        await withVm(ctx, sb, (vm) => vm.agent.call("signalProcess", { containerId: cid, signal, all: true })).catch((e: unknown) =>
          log.debug(`kill --all ${cid} (stopped): ${(e as Error).message}`),
        );
      }
      return;
    }
    assertGuestReachable(sb, "signal a container in");
    guardContainer(cid, c.current.state, "kill");
    await withVm(ctx, sb, (vm) => killContainerIn(sb, vm, c, signal, all));
  });
}

export type ProcessInfo = MethodResponse<"listProcesses">["processes"][number];

/** The container's processes as the guest sees them; none once it is stopped (as runc). Shared lock. */
export async function processListContainer(ctx: RuntimeContext, sid: string, cid: string): Promise<ProcessInfo[]> {
  ids(sid, cid);
  return locked(ctx, sid, "shared", async (sb) => {
    const c = findContainer(sb, cid);
    if (c.current.state === "stopped") return [];
    assertGuestReachable(sb, "list processes in");
    guardContainer(cid, c.current.state, "ps");
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
    guardContainer(cid, c.current.state, "stats");
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
  const valid = parseValid(ResourcesSchema, resources, InvalidSpecError, "resources");
  return locked(ctx, sid, "exclusive", async (sb) => {
    const c = findContainer(sb, cid);
    assertGuestReachable(sb, "update a container in");
    guardContainer(cid, c.current.state, "update");
    await withVm(ctx, sb, (vm) => vm.agent.call("updateContainer", { containerId: cid, resources: valid }));
    for (const spec of [c.record.spec, c.record.guestSpec]) {
      if (spec) spec.linux = { ...spec.linux, resources: { ...spec.linux?.resources, ...valid } };
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
    guardSandbox(sid, sb.current.state, "pauseContainer");
    guardContainer(cid, c.current.state, "pause");
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
    guardSandbox(sid, sb.current.state, "resumeContainer");
    guardContainer(cid, c.current.state, "resume");
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
    await withVm(ctx, sb, (vm) =>
      vm.agent.call("resizeTty", { containerId: cid, ...(execId ? { execId } : {}), rows: size.rows, cols: size.cols }),
    );
  });
}
