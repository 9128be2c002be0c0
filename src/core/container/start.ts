import { guestSpecOf } from "../guest-spec.ts";
import type { RuntimeContext } from "../ports.ts";
import { processStartTime } from "../../host/proc.ts";
import { placeInHostCgroup } from "../../host/cgroup.ts";
import { logger } from "../../host/log.ts";
import type { VmHandle } from "../ports.ts";
import { moveContainer, moveSandbox, ociStateOf, saveContainer, type LoadedContainer, type LoadedSandbox } from "../loaded.ts";
import { guardSandbox, guardContainer } from "../status.ts";
import { frozen, phaseContext, warnOnly } from "./phase.ts";
import { sandboxDir } from "../../host/layout.ts";
import { guestOptions, killShim } from "./create.ts";

const log = logger("container");

/** Start a ready container, or restart a stopped one (its init relaunched), with the start-time hooks. */

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
