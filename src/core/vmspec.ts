import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { HuskConfig } from "../config/schema.ts";
import type { VmSpec } from "../hypervisor/types.ts";
import { AGENT_SOCKET, CONSOLE_LOG, QMP_SOCKET } from "../host/layout.ts";
import { ensureSocketPath } from "../host/sockets.ts";
import type { OciSpec } from "../oci/spec.ts";

/** Pure builders for the VM a sandbox boots. */

const MiB = 1024 * 1024;

export interface VmSizing {
  vcpus?: number;
  memoryMiB?: number;
}

/**
 * Size from the first container's resources, as Kata does: CPU quota/period
 * rounded up to whole vCPUs (at least the configured count); a cpuset naming
 * CPU n needs n+1 vCPUs in the guest (capped at the host's CPUs: beyond that
 * the request fails in the guest as it would on the host); a memory limit is
 * added to the configured base memory (the guest kernel and agent need their
 * own).
 */
export function sizingFromSpec(
  spec: OciSpec | undefined,
  base: { vcpus: number; memoryMiB: number },
  hostCpus: number = availableParallelism(),
): Required<VmSizing> {
  const res = spec?.linux?.resources;
  let vcpus = base.vcpus;
  const highest = highestCpu(res?.cpu?.cpus);
  if (highest !== undefined) vcpus = Math.max(vcpus, Math.min(highest + 1, hostCpus));
  const quota = res?.cpu?.quota;
  const period = res?.cpu?.period;
  if (typeof quota === "number" && quota > 0 && typeof period === "number" && period > 0) {
    vcpus = Math.max(vcpus, Math.ceil(quota / period));
  }
  let memoryMiB = base.memoryMiB;
  const limit = res?.memory?.limit;
  if (typeof limit === "number" && limit > 0) memoryMiB = base.memoryMiB + Math.ceil(limit / MiB);
  return { vcpus, memoryMiB };
}

/** Highest CPU number in a cpuset list ("0-3,7" → 7); undefined when none or malformed. */
export function highestCpu(list: string | undefined): number | undefined {
  if (!list || !/^\s*\d+(-\d+)?(\s*,\s*\d+(-\d+)?)*\s*$/.test(list)) return undefined;
  return Math.max(...list.split(",").flatMap((part) => part.split("-").map((n) => Number(n.trim()))));
}

export function buildVmSpec(
  config: HuskConfig,
  sandboxId: string,
  dir: string,
  sizing: VmSizing,
  agentDir?: string,
  hostCgroup?: string,
): VmSpec {
  const hv = config.hypervisor;
  return {
    sandboxId,
    dir,
    sharedDir: join(dir, "shared"),
    binary: hv.path,
    kernel: hv.kernel,
    ...(hv.initrd ? { initrd: hv.initrd } : {}),
    ...(hv.image ? { image: hv.image } : {}),
    ...(agentDir ? { agentDir } : {}),
    machine: hv.machine,
    accelerator: hv.accelerator,
    vcpus: sizing.vcpus ?? hv.vcpus,
    memoryMiB: sizing.memoryMiB ?? hv.memory_mib,
    ...(hv.tcg_cache_mib !== 64 ? { tcgCacheMiB: hv.tcg_cache_mib } : {}),
    kernelParams: [...hv.kernel_params, ...(config.agent.debug ? ["husk.debug=1"] : [])],
    bootTimeoutMs: hv.boot_timeout_ms,
    consoleLog: join(dir, CONSOLE_LOG),
    qmpSocket: ensureSocketPath(dir, QMP_SOCKET),
    agentSocket: ensureSocketPath(dir, AGENT_SOCKET),
    ...(hostCgroup ? { hostCgroup } : {}),
  };
}
