import { rmSync } from "node:fs";
import type { RuntimeContext } from "./ports.ts";
import { socketDirOf } from "../host/sockets.ts";
import {
  createContainerIn,
  deleteContainerIn,
  releaseContainerId,
  startContainerIn,
  stopContainerIn,
  validateContainerConfig,
  type ContainerConfig,
} from "./container.ts";
import { AlreadyExistsError, CleanupError } from "../host/errors.ts";
import { validateId } from "../host/ids.ts";
import type { SandboxPhaseContext } from "./ports.ts";
import { logger } from "../host/log.ts";
import { closeQuietly, containerDirsOf, moveContainer, moveSandbox, saveSandboxState, vmAlive, withVm, type LoadedSandbox } from "./sandbox.ts";
import { guardSandbox } from "./status.ts";
import { containerConfigFile, SHARED_DIR_MODE, sandboxConfigFile, sandboxDir, sharedDir } from "../host/layout.ts";
import { makeDir, readJsonIfExists, writeJsonAtomic } from "../host/json-file.ts";
import type { UndoStack } from "./undo.ts";
import { processStartTime } from "../host/proc.ts";
import { ContainerRecordSchema, type SandboxRecord } from "./records.ts";
import { removeHostCgroup } from "../host/cgroup.ts";
import { removeTree } from "./rootfs.ts";
import { buildVmSpec, sizingFromSpec, type VmSizing } from "./vmspec.ts";
import { repairSandbox } from "./repair.ts";

/** Sandbox-level operations inside a locked sandbox (see src/api.ts for the entry points). */

const log = logger("sandbox");

export interface SandboxConfig {
  id: string;
  /** Created in order with the sandbox (the first one sizes the VM and feeds sandbox hooks). */
  containers: ContainerConfig[];
  annotations?: Record<string, string>;
  /** Overrides of the configured VM size; otherwise derived from the first container's resources. */
  hypervisor?: VmSizing;
}

function netnsOf(config: Pick<ContainerConfig, "spec"> | undefined): string | undefined {
  return config?.spec.linux?.namespaces?.find((n) => n.type === "network")?.path;
}

export function sandboxPhase(
  ctx: RuntimeContext,
  sid: string,
  first: Pick<ContainerConfig, "spec" | "bundle"> | undefined,
  vm?: SandboxPhaseContext["vm"],
): SandboxPhaseContext {
  const netnsPath = netnsOf(first);
  return {
    sandboxId: sid,
    sandboxDir: sandboxDir(ctx.root, sid),
    ...(first ? { spec: first.spec, bundle: first.bundle } : {}),
    ...(netnsPath ? { netnsPath } : {}),
    ...(vm ? { vm } : {}),
  };
}

/** Validate the config before anything touches the disk. */
export function validateSandboxConfig(config: SandboxConfig): void {
  validateId(config.id, "sandbox id");
  const seen = new Set<string>();
  for (const c of config.containers) {
    validateContainerConfig(c);
    if (seen.has(c.id)) throw new AlreadyExistsError(`container ${c.id} appears twice in sandbox ${config.id}`);
    seen.add(c.id);
  }
}

/** createSandbox's work, inside the new sandbox's exclusive lock: store → prestart → boot → containers → state. */
export async function createSandboxIn(ctx: RuntimeContext, config: SandboxConfig, undo: UndoStack): Promise<LoadedSandbox> {
  const sid = config.id;
  const dir = sandboxDir(ctx.root, sid);
  undo.push(`remove ${dir}`, () => removeTree(dir));
  makeDir(sharedDir(ctx.root, sid), false, SHARED_DIR_MODE);
  makeDir(`${dir}/containers`);

  const first = config.containers[0];
  const base = { vcpus: ctx.config.hypervisor.vcpus, memoryMiB: ctx.config.hypervisor.memory_mib };
  const sizing = { ...sizingFromSpec(first?.spec, base), ...config.hypervisor };
  const record: SandboxRecord = {
    id: sid,
    createdAt: new Date().toISOString(),
    annotations: config.annotations ?? {},
    backend: ctx.backend.name,
    vm: buildVmSpec(ctx.config, sid, dir, sizing, ctx.agentDir, first?.spec.linux?.cgroupsPath),
  };
  writeJsonAtomic(sandboxConfigFile(ctx.root, sid), record);
  const sb: LoadedSandbox = { record, current: { state: "ready", containers: [] }, containers: [] };
  saveSandboxState(ctx.root, sb);

  const phase = sandboxPhase(ctx, sid, first, { vcpus: record.vm.vcpus, memoryMiB: record.vm.memoryMiB });
  undo.push("sandbox poststop", async () => {
    try {
      await ctx.lifecycle.sandboxPoststop(phase);
    } catch (e) {
      log.warn(`sandbox poststop of ${sid} failed: ${(e as Error).message}`);
    }
  });
  const added = await ctx.lifecycle.sandboxPrestart(phase);
  if (added?.network) {
    // Recorded before boot, so a restart (startSandbox of a stopped sandbox) plugs the same NICs.
    record.vm = { ...record.vm, network: added.network };
    writeJsonAtomic(sandboxConfigFile(ctx.root, sid), record);
  }

  const vm = await ctx.backend.boot(record.vm);
  // On failure this undo (stop) also drops the connection; the container undos before it still use it.
  undo.push(`stop VM of ${sid}`, () => vm.stop());
  const vmPidStart = processStartTime(vm.pid);
  sb.current = { ...sb.current, vmPid: vm.pid, ...(vmPidStart !== undefined ? { vmPidStart } : {}) };
  saveSandboxState(ctx.root, sb);
  for (const c of config.containers) await createContainerIn(ctx, sb, vm, c, undo);
  await closeQuietly(vm);
  return sb;
}

/** Start every container; a stopped sandbox boots its VM again first. */
export async function startSandboxIn(ctx: RuntimeContext, sb: LoadedSandbox): Promise<void> {
  const sid = sb.record.id;
  guardSandbox(sid, sb.current.state, "start");
  if (sb.current.state === "stopped") {
    const vm = await ctx.backend.boot(sb.record.vm);
    const vmPidStart = processStartTime(vm.pid);
    sb.current = { ...sb.current, vmPid: vm.pid };
    if (vmPidStart !== undefined) sb.current.vmPidStart = vmPidStart;
    else delete sb.current.vmPidStart;
    await closeQuietly(vm);
    moveSandbox(ctx.root, sb, "running");
  }
  await withVm(ctx, sb, async (vm) => {
    for (const c of sb.containers) {
      if (c.current.state === "ready" || c.current.state === "stopped") await startContainerIn(ctx, sb, vm, c);
    }
  });
  if (sb.current.state === "ready") moveSandbox(ctx.root, sb, "running");
}

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

export async function pauseSandboxIn(ctx: RuntimeContext, sb: LoadedSandbox): Promise<void> {
  guardSandbox(sb.record.id, sb.current.state, "pause");
  await withVm(ctx, sb, (vm) => vm.pause());
  for (const c of sb.containers) if (c.current.state === "running") moveContainer(ctx.root, sb.record.id, c, "paused");
  moveSandbox(ctx.root, sb, "paused");
}

export async function resumeSandboxIn(ctx: RuntimeContext, sb: LoadedSandbox): Promise<void> {
  guardSandbox(sb.record.id, sb.current.state, "resume");
  await withVm(ctx, sb, (vm) => vm.resume());
  for (const c of sb.containers) if (c.current.state === "paused") moveContainer(ctx.root, sb.record.id, c, "running");
  moveSandbox(ctx.root, sb, "running");
}

/**
 * Delete the sandbox: containers removed in the guest, VM stopped, every
 * mount, file and container id removed, then poststop for each container
 * and the sandbox. Without force the sandbox must be ready, paused or
 * stopped (as Kata), or running with no live container; with force any.
 */
export async function deleteSandboxIn(ctx: RuntimeContext, sb: LoadedSandbox, force: boolean): Promise<void> {
  const sid = sb.record.id;
  const first = sb.containers[0]?.record;
  await repairSandbox(ctx, sb);
  // A running sandbox whose containers have all stopped only holds an idle VM: deletable without force.
  const idle = sb.containers.every((c) => c.current.state === "stopped");
  if (!force && !(sb.current.state === "running" && idle)) {
    guardSandbox(sid, sb.current.state, "delete");
  }
  if (vmAlive(sb)) {
    // A failure to stop the VM keeps the state: the sandbox can be deleted again.
    await withVm(ctx, sb, async (vm) => {
      if (sb.current.state === "paused") await vm.resume();
      for (const c of [...sb.containers]) await deleteContainerIn(ctx, sb, vm, c, true, true);
      await vm.stop();
    });
  }
  const failures: unknown[] = [];
  // Whatever the state says, a VM an interrupted create or a dead monitor left behind must go too.
  try {
    await ctx.backend.forceCleanup(sandboxDir(ctx.root, sid));
  } catch (e) {
    failures.push(e);
  }
  for (const c of [...sb.containers]) {
    try {
      await deleteContainerIn(ctx, sb, undefined, c, true);
    } catch (e) {
      failures.push(e);
    }
  }
  // The VM joined its host cgroup at boot, before any container record existed.
  await removeHostCgroup(sb.record.vm.hostCgroup);
  // Containers a crashed create left unlisted still hold an id and maybe a mount or a host cgroup.
  for (const cid of containerDirsOf(ctx.root, sid)) {
    let cgroupsPath: string | undefined;
    try {
      cgroupsPath = readJsonIfExists(containerConfigFile(ctx.root, sid, cid), ContainerRecordSchema, `container ${cid}`)?.spec.linux?.cgroupsPath;
    } catch {
      // a half-written record: no cgroup was made for it (that comes after launch, which needs the record)
    }
    await removeHostCgroup(cgroupsPath);
    releaseContainerId(ctx.root, sid, cid);
  }
  // The VM is gone; plugins release what they recorded in the sandbox dir (network.json) before it goes.
  try {
    await ctx.lifecycle.sandboxPoststop(sandboxPhase(ctx, sid, first));
  } catch (e) {
    log.warn(`sandbox poststop of ${sid} failed: ${(e as Error).message}`);
  }
  try {
    await removeTree(sandboxDir(ctx.root, sid));
    const sockets = socketDirOf(sandboxDir(ctx.root, sid));
    if (sockets) rmSync(sockets, { recursive: true, force: true });
  } catch (e) {
    failures.push(e);
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) throw new CleanupError(failures[0], failures.slice(1));
}

/** Remove what a create that crashed before storing its config left: container ids, mounts, the directory. */
export async function removeLeftoverSandbox(ctx: RuntimeContext, sid: string): Promise<void> {
  log.warn(`sandbox ${sid} has no stored config (a crashed create): removing its leftovers`);
  await ctx.backend.forceCleanup(sandboxDir(ctx.root, sid));
  for (const cid of containerDirsOf(ctx.root, sid)) releaseContainerId(ctx.root, sid, cid);
  await removeTree(sandboxDir(ctx.root, sid));
  const sockets = socketDirOf(sandboxDir(ctx.root, sid));
  if (sockets) rmSync(sockets, { recursive: true, force: true });
}
