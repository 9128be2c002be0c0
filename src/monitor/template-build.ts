import { chmodSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { AGENT_SOCKET, QEMU_PID_FILE, QMP_SOCKET } from "../host/layout.ts";
import { FactoryError } from "../host/errors.ts";
import { createHypervisor } from "../hypervisor/registry.ts";
import { probeHost, resolveBinary } from "../hypervisor/qemu/probe.ts";
import type { VmSpec } from "../hypervisor/types.ts";
import { logger } from "../host/log.ts";
import { bootVm } from "./boot.ts";
import { connectGuest } from "./guest.ts";
import { VERSION } from "../host/version.ts";
import { templateKey } from "../factory/key.ts";
import { lockWithin, tryLock } from "../factory/lock.ts";
import { checkSpace } from "../factory/space.ts";
import { templateSpec } from "../factory/spec.ts";
import {
  buildDir,
  ensureFactoryDir,
  evictTemplates,
  findTemplate,
  lockFile,
  pruneTemplates,
  sha256File,
  sweepAbandonedBuilds,
  templateDir,
  writeTemplateRecord,
  type Template,
} from "../factory/store.ts";

/**
 * Making a template: boot the sandbox's VM shape with its RAM in a tmpfs
 * file (share=on) until the agent answers, pause it, save the device state,
 * end QEMU, record it, and rename the build directory into place. One
 * builder per key (flock); a template is visible only once complete.
 */

const log = logger("factory");

export interface BuildOptions {
  factoryDir: string;
  /** Wait this long for another builder of the same key; 0: give up at once (background builds). */
  waitMs?: number;
  /** `[factory] max_templates`: the least recently used beyond it are evicted first. */
  maxTemplates?: number;
}

export type BuildResult = { status: "built" | "exists"; template: Template } | { status: "busy" };

export async function buildTemplate(spec: VmSpec, options: BuildOptions): Promise<BuildResult> {
  const { factoryDir } = options;
  ensureFactoryDir(factoryDir);
  const { key, inputs } = await templateKey(spec, probeHost());
  const lockPath = lockFile(factoryDir, key);
  const lock = options.waitMs ? await lockWithin(lockPath, options.waitMs) : tryLock(lockPath);
  if (!lock) return { status: "busy" };
  try {
    const found = findTemplate(factoryDir, key);
    if (found.template) return { status: "exists", template: found.template };
    await sweepAbandonedBuilds(factoryDir);
    pruneTemplates(factoryDir);
    evictTemplates(factoryDir, (options.maxTemplates ?? 8) - 1);
    if (found.problem) {
      log.warn(`template ${key} is broken (${found.problem}): making it again`);
      rmSync(templateDir(factoryDir, key), { recursive: true, force: true });
    }
    checkSpace(factoryDir, spec.memoryMiB);
    const dir = buildDir(factoryDir, key);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, "shared"), { recursive: true, mode: 0o700 });
    try {
      const template = await makeTemplate(spec, dir, key, inputs);
      const final = templateDir(factoryDir, key);
      renameSync(dir, final);
      log.info(`template ${key} ready (${spec.vcpus} vCPU, ${spec.memoryMiB} MiB, ${spec.network?.nics.length ?? 0} NICs)`);
      return { status: "built", template: { dir: final, record: template } };
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  } finally {
    lock.release();
  }
}

async function makeTemplate(spec: VmSpec, dir: string, key: string, inputs: { argv: string[]; files: Record<string, string> }) {
  const tspec = templateSpec(spec, dir);
  const hv = await createHypervisor("qemu", { qemu: { stopTimeoutMs: 2000 } });
  const t0 = Date.now();
  const { agent, bootMs } = await bootVm(hv, tspec, connectGuest).catch((err: unknown) => {
    throw new FactoryError(`template VM did not come up: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  });
  try {
    // The host side hangs up first, so the saved guest is waiting for a new session.
    await agent.stop();
    const t1 = Date.now();
    const { stateBytes } = await hv.saveTemplate!();
    const saveMs = Date.now() - t1;
    await hv.cleanup(); // RAM is in the memory file already: QEMU can simply go
    chmodSync(join(dir, "memory"), 0o600); // QEMU made it with its umask
    for (const f of [QMP_SOCKET, AGENT_SOCKET, QEMU_PID_FILE]) rmSync(join(dir, f), { force: true });
    rmSync(join(dir, "shared"), { recursive: true, force: true });
    const record = {
      version: 1 as const,
      key,
      createdAt: new Date().toISOString(),
      husk: VERSION,
      machine: spec.machine,
      vcpus: spec.vcpus,
      memoryMiB: spec.memoryMiB,
      nics: spec.network?.nics.length ?? 0,
      kernel: spec.kernel,
      ...(spec.initrd ? { initrd: spec.initrd } : {}),
      ...(spec.agentDir ? { agentDir: spec.agentDir } : {}),
      qemu: resolveBinary(spec.binary) ?? spec.binary,
      files: inputs.files,
      argv: inputs.argv,
      stateBytes,
      stateSha256: sha256File(join(dir, "state")),
      bootMs,
      saveMs,
    };
    writeTemplateRecord(dir, record);
    log.debug(`template ${key}: boot ${bootMs} ms, save ${saveMs} ms, total ${Date.now() - t0} ms`);
    return record;
  } finally {
    await hv.cleanup().catch(() => {});
  }
}
