import type { RuntimeContext } from "../ports.ts";
import { createContainerIn } from "../container/create.ts";
import { logger } from "../../host/log.ts";
import { closeQuietly, saveSandboxState, type LoadedSandbox } from "../loaded.ts";
import { SHARED_DIR_MODE, sandboxConfigFile, sandboxDir, sharedDir } from "../../host/layout.ts";
import { makeDir, writeJsonAtomic } from "../../host/json-file.ts";
import type { UndoStack } from "../undo.ts";
import { processStartTime } from "../../host/proc.ts";
import type { SandboxRecord } from "../records.ts";
import { removeTree } from "../../host/mounts.ts";
import { buildVmSpec, sizingFromSpec } from "../vmspec.ts";
import { type SandboxConfig, sandboxPhase } from "./config.ts";

const log = logger("sandbox");

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
