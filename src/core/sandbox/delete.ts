import { rmSync } from "node:fs";
import type { RuntimeContext } from "../ports.ts";
import { socketDirOf } from "../../host/sockets.ts";
import { deleteContainerIn } from "../container/delete.ts";
import { releaseContainerId } from "../container/ids.ts";
import { CleanupError } from "../../host/errors.ts";
import { logger } from "../../host/log.ts";
import { containerDirsOf, vmAlive, withVm, type LoadedSandbox } from "../loaded.ts";
import { guardSandbox } from "../status.ts";
import { containerConfigFile, sandboxDir } from "../../host/layout.ts";
import { readJsonIfExists } from "../../host/json-file.ts";
import { ContainerRecordSchema } from "../records.ts";
import { removeHostCgroup } from "../../host/cgroup.ts";
import { removeTree } from "../../host/mounts.ts";
import { repairSandbox } from "../repair.ts";
import { sandboxPhase } from "./config.ts";

const log = logger("sandbox");

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
      cgroupsPath = readJsonIfExists(containerConfigFile(ctx.root, sid, cid), ContainerRecordSchema, `container ${cid}`)?.spec.linux
        ?.cgroupsPath;
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
