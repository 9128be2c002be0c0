import { join } from "node:path";
import { AGENT_SOCKET, CONSOLE_LOG, QMP_SOCKET } from "../host/layout.ts";
import type { VmSpec } from "../hypervisor/types.ts";

/**
 * Pure: the VM a template is made of, and the VM a clone runs, both derived
 * from the sandbox's own VmSpec so that one can stand in for the other.
 */

/** The guest init's signal to run the agent from memory and leave the sandbox share to cloneInit. */
export const TEMPLATE_KERNEL_PARAM = "husk.template=1";

/**
 * A template of `spec` made in `dir`: same machine, size, kernel, image and
 * device set (the NIC count, not the taps: a template's NICs have no
 * backend), an empty share, and the template kernel parameter.
 */
export function templateSpec(spec: VmSpec, dir: string, bootTimeoutMs = spec.bootTimeoutMs): VmSpec {
  const nics = spec.network?.nics ?? [];
  return {
    sandboxId: "template",
    dir,
    sharedDir: join(dir, "shared"),
    binary: spec.binary,
    kernel: spec.kernel,
    ...(spec.initrd ? { initrd: spec.initrd } : {}),
    ...(spec.image ? { image: spec.image } : {}),
    ...(spec.agentDir ? { agentDir: spec.agentDir } : {}),
    machine: spec.machine,
    accelerator: spec.accelerator,
    vcpus: spec.vcpus,
    memoryMiB: spec.memoryMiB,
    ...(spec.tcgCacheMiB !== undefined ? { tcgCacheMiB: spec.tcgCacheMiB } : {}),
    kernelParams: [...spec.kernelParams.filter((p) => p !== TEMPLATE_KERNEL_PARAM), TEMPLATE_KERNEL_PARAM],
    bootTimeoutMs,
    consoleLog: join(dir, CONSOLE_LOG),
    qmpSocket: join(dir, QMP_SOCKET),
    agentSocket: join(dir, AGENT_SOCKET),
    ...(nics.length ? { network: { netns: "/proc/self/ns/net", nics: nics.map((_, i) => ({ tap: `tpl${i}` })) } } : {}),
    template: { mode: "save", dir },
  };
}

/** The sandbox's VM started as a clone of the template in `dir`. */
export function cloneSpec(spec: VmSpec, dir: string): VmSpec {
  return { ...spec, template: { mode: "restore", dir } };
}
