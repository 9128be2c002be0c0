import { guestSpecOf } from "../guest-spec.ts";
import { existsSync, statSync } from "node:fs";
import type { RuntimeContext } from "../ports.ts";
import { processStartTime, isProcessAlive } from "../../host/proc.ts";
import { shareRootfs, unshareRootfs } from "../rootfs.ts";
import { removeTree } from "../../host/mounts.ts";
import { placeInHostCgroup, removeHostCgroup } from "../../host/cgroup.ts";
import type { ContainerRecord } from "../records.ts";
import { AlreadyExistsError, BundleError } from "../../host/errors.ts";
import type { VmHandle } from "../ports.ts";
import { rootfsOf } from "../../oci/bundle.ts";
import type { OciSpec, OciState } from "../../oci/spec.ts";
import { ociStateOf, saveContainer, saveSandboxState, type LoadedContainer, type LoadedSandbox } from "../loaded.ts";
import { guardSandbox } from "../status.ts";
import { frozen, phaseContext, warnOnly } from "./phase.ts";
import { containerDir, guestRootfs, sandboxDir, sharedRootfs, containerConfigFile } from "../../host/layout.ts";
import { makeDir, writeJsonAtomic } from "../../host/json-file.ts";
import type { UndoStack } from "../undo.ts";
import { type ContainerConfig, validateContainerConfig } from "./config.ts";
import { claimContainerId, releaseContainerId } from "./ids.ts";

/**
 * Create a container in a loaded, locked sandbox: claim its id, store its
 * record, share its rootfs, run the create-time lifecycle, launch its init
 * through the shim and save. Every step pushes its undo.
 */

/** Options for guestSpecOf from the sandbox: its VM's NICs, and its live containers (host pid → guest pid) whose namespaces a pod's containers join. */
export function guestOptions(sb: LoadedSandbox): { vmNetwork: boolean; peers: Map<number, number> } {
  const peers = new Map<number, number>();
  for (const c of sb.containers) {
    if (c.current.pid > 0 && c.current.guestPid > 0 && (c.current.state === "ready" || c.current.state === "running"))
      peers.set(c.current.pid, c.current.guestPid);
  }
  return { vmNetwork: (sb.record.vm.network?.nics.length ?? 0) > 0, peers };
}

/** Kill a leftover shim (never ourselves: the direct launcher reports our pid). */
export function killShim(pid: number, pidStart: number | undefined): void {
  if (pid > 0 && pid !== process.pid && isProcessAlive(pid, pidStart)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
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
