import type { RuntimeContext } from "../ports.ts";
import { unshareRootfs } from "../rootfs.ts";
import { removeTree } from "../../host/mounts.ts";
import { removeHostCgroup } from "../../host/cgroup.ts";
import { logger } from "../../host/log.ts";
import type { VmHandle } from "../ports.ts";
import { ociStateOf, saveSandboxState, type LoadedContainer, type LoadedSandbox } from "../loaded.ts";
import { guardContainer } from "../status.ts";
import { frozen, phaseContext, warnOnly } from "./phase.ts";
import { containerDir, sharedRootfs } from "../../host/layout.ts";
import { killShim } from "./create.ts";
import { releaseContainerId } from "./ids.ts";

const log = logger("container");

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
