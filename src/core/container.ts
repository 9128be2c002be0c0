import { guestSpecOf } from "./guest-spec.ts";
import { checkNamespacePaths } from "../oci/namespaces.ts";
import { mkdirSync, readlinkSync, rmSync, symlinkSync, existsSync, statSync } from "node:fs";
import type { RuntimeContext } from "./ports.ts";
import { processStartTime, isProcessAlive } from "../host/proc.ts";
import { shareRootfs, unshareRootfs, removeTree } from "./rootfs.ts";
import { placeInHostCgroup, removeHostCgroup } from "../host/cgroup.ts";
import type { ContainerRecord } from "./records.ts";
import { isAbsolute } from "node:path";
import { AlreadyExistsError, BundleError, InvalidSpecError, NotFoundError, UsageError, asHuskError } from "../host/errors.ts";
import { validateId } from "../host/ids.ts";
import { LaunchIoSchema, type LaunchIo } from "./ports.ts";
import { logger } from "../host/log.ts";
import type { VmHandle } from "./ports.ts";
import { rootfsOf } from "../oci/bundle.ts";
import { AnnotationsSchema, SpecSchema, type OciSpec, type OciState } from "../oci/spec.ts";
import { parseOr, parseValid } from "../host/valid.ts";
import { findContainer, moveContainer, moveSandbox, ociStateOf, saveContainer, saveContainerRecord, saveSandboxState, type LoadedContainer, type LoadedSandbox } from "./sandbox.ts";
import { guardSandbox, guardContainer } from "./status.ts";
import { frozen, phaseContext, warnOnly } from "./container-phase.ts";
import { containerDir, containerMapping, containerMappingsDir, DIR_MODE, guestRootfs, sandboxDir, sharedRootfs, containerConfigFile } from "../host/layout.ts";
import { makeDir, writeJsonAtomic } from "../host/json-file.ts";
import type { UndoStack } from "./undo.ts";

/**
 * Container operations inside a loaded, locked sandbox. The api entry
 * points (src/api.ts) validate ids, take the lock and load; these do the
 * guarded work and save.
 */

const log = logger("container");

/** What the caller asks for: the bundle already loaded by src/oci/bundle.ts. */
export interface ContainerConfig {
  id: string;
  /** Absolute bundle directory. */
  bundle: string;
  spec: OciSpec;
  io: LaunchIo;
  annotations?: Record<string, string>;
}

/** Options for guestSpecOf from the sandbox: its VM's NICs, and its live containers (host pid → guest pid) whose namespaces a pod's containers join. */
function guestOptions(sb: LoadedSandbox): { vmNetwork: boolean; peers: Map<number, number> } {
  const peers = new Map<number, number>();
  for (const c of sb.containers) {
    if (c.current.pid > 0 && c.current.guestPid > 0 && (c.current.state === "ready" || c.current.state === "running")) peers.set(c.current.pid, c.current.guestPid);
  }
  return { vmNetwork: (sb.record.vm.network?.nics.length ?? 0) > 0, peers };
}


/** Kill a leftover shim (never ourselves: the direct launcher reports our pid). */
function killShim(pid: number, pidStart: number | undefined): void {
  if (pid > 0 && pid !== process.pid && isProcessAlive(pid, pidStart)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** Claim the container id host-wide: <root>/containers/<cid> → sid (atomic symlink). */
function claimContainerId(root: string, sid: string, cid: string): void {
  mkdirSync(containerMappingsDir(root), { recursive: true, mode: DIR_MODE });
  const link = containerMapping(root, cid);
  try {
    symlinkSync(sid, link);
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw asHuskError(e, "E_IO", `cannot record container ${cid}`);
  }
  // A mapping to a sandbox that no longer exists is a leftover of a crash: replace it.
  const owner = readlinkSync(link);
  if (existsSync(sandboxDir(root, owner))) {
    throw new AlreadyExistsError(`container ${cid} already exists (in sandbox ${owner})`, { details: { containerId: cid, sandboxId: owner } });
  }
  rmSync(link, { force: true });
  symlinkSync(sid, link);
}

/** Remove <root>/containers/<cid> if it still names sid. */
export function releaseContainerId(root: string, sid: string, cid: string): void {
  const link = containerMapping(root, cid);
  try {
    if (readlinkSync(link) === sid) rmSync(link, { force: true });
  } catch {
    // absent already
  }
}

/** Which sandbox holds container cid (E_NOT_FOUND when none). */
export function sandboxIdOf(root: string, cid: string): string {
  const link = containerMapping(root, validateId(cid, "container id"));
  let sid: string;
  try {
    sid = readlinkSync(link);
  } catch {
    throw new NotFoundError(`container ${cid} not found`, { details: { containerId: cid } });
  }
  if (!existsSync(sandboxDir(root, sid))) throw new NotFoundError(`container ${cid} not found`, { details: { containerId: cid } });
  return sid;
}

/** Check a caller's container config at the boundary: id, spec and io (nothing touched yet). */
export function validateContainerConfig(config: ContainerConfig): ContainerConfig {
  validateId(config.id, "container id");
  const spec = parseValid(SpecSchema, config.spec, InvalidSpecError, `container ${config.id}: config.json`);
  if (config.annotations !== undefined) {
    parseOr(AnnotationsSchema, config.annotations, ({ message }) => new InvalidSpecError(`container ${config.id}: annotations: ${message}`, { details: { path: "annotations" } }));
  }
  const io = parseValid(LaunchIoSchema, config.io, UsageError, `container ${config.id}: io`);
  if (typeof config.bundle !== "string" || !isAbsolute(config.bundle)) {
    throw new BundleError(`container ${config.id}: bundle must be an absolute path`, { details: { bundle: config.bundle } });
  }
  checkNamespacePaths(spec);
  return { ...config, spec, io };
}

export async function createContainerIn(
  ctx: RuntimeContext,
  sb: LoadedSandbox,
  vm: VmHandle,
  config: ContainerConfig,
  undo: UndoStack,
): Promise<LoadedContainer> {
  const sid = sb.record.id;
  config = validateContainerConfig(config);
  const cid = config.id;
  guardSandbox(sid, sb.current.state, "createContainer");
  if (sb.containers.some((c) => c.record.id === cid)) {
    throw new AlreadyExistsError(`container ${cid} already exists in sandbox ${sid}`, { details: { containerId: cid } });
  }
  const rootfs = rootfsOf(config.bundle, config.spec);
  if (!existsSync(rootfs) || !statSync(rootfs).isDirectory()) {
    throw new BundleError(`rootfs ${rootfs} does not exist or is not a directory`, { details: { rootfs } });
  }

  claimContainerId(ctx.root, sid, cid);
  undo.push(`release container id ${cid}`, () => releaseContainerId(ctx.root, sid, cid));

  const dir = containerDir(ctx.root, sid, cid);
  makeDir(dir, true);
  undo.push(`remove ${dir}`, () => removeTree(dir));
  const record: ContainerRecord = {
    id: cid,
    sandboxId: sid,
    bundle: config.bundle,
    rootfs,
    createdAt: new Date().toISOString(),
    annotations: config.annotations ?? config.spec.annotations ?? {},
    io: config.io,
    spec: config.spec,
  };
  writeJsonAtomic(containerConfigFile(ctx.root, sid, cid), record);

  const shareTarget = sharedRootfs(ctx.root, sid, cid);
  const share = await shareRootfs(rootfs, shareTarget);
  undo.push(`unshare rootfs of ${cid}`, () => unshareRootfs(shareTarget));

  const creating: OciState = ociStateOf(record, { state: "ready", pid: 0 }, "creating");
  // OCI: when a create-time hook fails, poststop hooks still run.
  undo.push(`poststop of ${cid}`, () =>
    warnOnly(`poststop of ${cid}`, () =>
      ctx.lifecycle.containerPoststop(phaseContext(ctx, sb, record, frozen(record.spec), { ...creating, status: "stopped" }, vm)),
    ),
  );
  const toGuest: OciSpec = { ...structuredClone(config.spec), root: { ...config.spec.root, path: guestRootfs(cid) } };
  const amended = await ctx.lifecycle.containerCreate(phaseContext(ctx, sb, record, toGuest, creating, vm));
  // Plugins may amend the spec, but the rootfs is always the shared one. The
  // stored spec keeps its hooks (the host runs them at start and delete);
  // what reaches the guest is stripped of host-only parts (guestSpecOf).
  const guestSpec: OciSpec = { ...amended, root: { ...amended.root, path: guestRootfs(cid) } };
  record.guestSpec = guestSpec;
  writeJsonAtomic(containerConfigFile(ctx.root, sid, cid), record);

  const launched = await ctx.launcher.launch(vm, {
    kind: "init",
    sandboxId: sid,
    sandboxDir: sandboxDir(ctx.root, sid),
    containerId: cid,
    spec: guestSpecOf(guestSpec, cid, guestOptions(sb)),
    io: config.io,
  });
  const pidStart = processStartTime(launched.pid);
  undo.push(`remove ${cid} in the guest`, async () => {
    try {
      await vm.agent.call("removeContainer", { containerId: cid, force: true });
    } finally {
      killShim(launched.pid, pidStart);
    }
  });
  // Host accounting: the shim joins the container's cgroup (the VM joined the first container's at boot).
  placeInHostCgroup(config.spec.linux?.cgroupsPath, [launched.pid]);
  undo.push(`remove the host cgroup of ${cid}`, () => removeHostCgroup(config.spec.linux?.cgroupsPath));

  // OCI createRuntime/prestart/createContainer see the container created, with its pid (runtime spec).
  const created: OciState = { ...creating, status: "created", pid: launched.pid };
  await ctx.lifecycle.containerCreated(phaseContext(ctx, sb, record, frozen(guestSpec), created, vm));

  const c: LoadedContainer = {
    record,
    current: {
      state: "ready",
      pid: launched.pid,
      ...(pidStart !== undefined ? { pidStart } : {}),
      guestPid: launched.guestPid,
      share,
    },
  };
  saveContainer(ctx.root, sid, c);
  sb.containers.push(c);
  sb.current.containers.push(cid);
  undo.push(`forget ${cid}`, () => {
    sb.containers = sb.containers.filter((x) => x !== c);
    sb.current.containers = sb.current.containers.filter((x) => x !== cid);
    if (existsSync(sandboxDir(ctx.root, sid))) saveSandboxState(ctx.root, sb);
  });
  saveSandboxState(ctx.root, sb);
  return c;
}

/** Relaunch the init process of a stopped container (restart). */
async function relaunch(ctx: RuntimeContext, sb: LoadedSandbox, vm: VmHandle, c: LoadedContainer): Promise<void> {
  const sid = sb.record.id;
  const cid = c.record.id;
  try {
    await vm.agent.call("removeContainer", { containerId: cid, force: true });
  } catch (e) {
    log.debug(`removing old ${cid} in the guest before restart: ${(e as Error).message}`);
  }
  killShim(c.current.pid, c.current.pidStart);
  const launched = await ctx.launcher.launch(vm, {
    kind: "init",
    sandboxId: sid,
    sandboxDir: sandboxDir(ctx.root, sid),
    containerId: cid,
    spec: guestSpecOf(c.record.guestSpec ?? c.record.spec, c.record.id, guestOptions(sb)),
    io: c.record.io,
  });
  const pidStart = processStartTime(launched.pid);
  placeInHostCgroup(c.record.spec.linux?.cgroupsPath, [launched.pid]);
  c.current = { ...c.current, pid: launched.pid, guestPid: launched.guestPid };
  delete c.current.exitCode;
  if (pidStart !== undefined) c.current.pidStart = pidStart;
  else delete c.current.pidStart;
  saveContainer(ctx.root, sid, c);
}

export async function startContainerIn(ctx: RuntimeContext, sb: LoadedSandbox, vm: VmHandle, c: LoadedContainer): Promise<void> {
  const sid = sb.record.id;
  const cid = c.record.id;
  guardSandbox(sid, sb.current.state, "startContainer");
  guardContainer(cid, c.current.state, "start");
  if (c.current.state === "stopped") await relaunch(ctx, sb, vm, c);
  const spec = frozen(c.record.guestSpec ?? c.record.spec);
  try {
    await ctx.lifecycle.containerStart(phaseContext(ctx, sb, c.record, spec, ociStateOf(c.record, c.current), vm));
  } catch (e) {
    // OCI: a failing startContainer hook stops the container.
    await warnOnly(`killing ${cid} after a failed start hook`, async () => {
      await vm.agent.call("signalProcess", { containerId: cid, signal: 9, all: true });
    });
    if (c.current.state !== "stopped") moveContainer(ctx.root, sid, c, "stopped");
    throw e;
  }
  await vm.agent.call("startContainer", { containerId: cid });
  moveContainer(ctx.root, sid, c, "running", { startedAt: new Date().toISOString(), exitCode: undefined });
  if (sb.current.state === "ready") moveSandbox(ctx.root, sb, "running");
  await warnOnly(`poststart of ${cid}`, () =>
    ctx.lifecycle.containerPoststart(phaseContext(ctx, sb, c.record, spec, ociStateOf(c.record, c.current), vm)),
  );
}

/** SIGKILL every process of the container and wait for its init to exit. */
export async function stopContainerIn(ctx: RuntimeContext, sb: LoadedSandbox, vm: VmHandle, c: LoadedContainer): Promise<void> {
  const cid = c.record.id;
  guardSandbox(sb.record.id, sb.current.state, "stopContainer");
  guardContainer(cid, c.current.state, "stop");
  await vm.agent.call("signalProcess", { containerId: cid, signal: 9, all: true });
  const r = await vm.agent.call("waitProcess", { containerId: cid }, { timeoutMs: ctx.config.hypervisor.stop_timeout_ms });
  moveContainer(ctx.root, sb.record.id, c, "stopped", { exitCode: r.signal ? 128 + r.signal : r.exitCode });
}

/** A signal number the guest can deliver: 0 (probe) to SIGRTMAX. */
export function checkSignal(signal: number): void {
  if (!Number.isInteger(signal) || signal < 0 || signal > 64) throw new UsageError(`invalid signal ${signal}`);
}

export async function killContainerIn(
  sb: LoadedSandbox,
  vm: VmHandle,
  c: LoadedContainer,
  signal: number,
  all: boolean,
): Promise<void> {
  checkSignal(signal);
  guardSandbox(sb.record.id, sb.current.state, "signalContainer");
  guardContainer(c.record.id, c.current.state, "kill");
  await vm.agent.call("signalProcess", { containerId: c.record.id, signal, all });
}

/**
 * Delete one container: remove it in the guest (when the VM is up), kill a
 * leftover shim, unmount and remove its files and id, run poststop.
 */
export async function deleteContainerIn(
  ctx: RuntimeContext,
  sb: LoadedSandbox,
  vm: VmHandle | undefined,
  c: LoadedContainer,
  force: boolean,
  /** The whole VM goes right after (sandbox delete): removing the container inside it first is wasted guest work. */
  vmGoing = false,
): Promise<void> {
  const sid = sb.record.id;
  const cid = c.record.id;
  if (!force) guardContainer(cid, c.current.state, "delete");
  if (vm && !vmGoing) {
    try {
      await vm.agent.call("removeContainer", { containerId: cid, force: true });
    } catch (e) {
      if (!force && c.current.state !== "stopped") throw e;
      log.warn(`removing ${cid} in the guest: ${(e as Error).message} (continuing: ${force ? "forced" : "already stopped"})`);
    }
  }
  killShim(c.current.pid, c.current.pidStart);
  // Forget it first: a crash below leaves unlisted files, which deleteSandbox clears, never a listed container without files.
  sb.containers = sb.containers.filter((x) => x !== c);
  sb.current.containers = sb.current.containers.filter((x) => x !== cid);
  saveSandboxState(ctx.root, sb);
  await unshareRootfs(sharedRootfs(ctx.root, sid, cid));
  await removeHostCgroup(c.record.spec.linux?.cgroupsPath);
  await removeTree(containerDir(ctx.root, sid, cid));
  releaseContainerId(ctx.root, sid, cid);
  const stopped = ociStateOf(c.record, c.current, "stopped");
  await warnOnly(`poststop of ${cid}`, () =>
    ctx.lifecycle.containerPoststop(phaseContext(ctx, sb, c.record, frozen(c.record.guestSpec ?? c.record.spec), stopped, vm)),
  );
}

export { findContainer, saveContainerRecord };
