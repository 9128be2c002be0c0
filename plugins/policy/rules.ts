import { resolve } from "node:path";
import type { FrozenSpec } from "../../src/plugins/types.ts";
import type { PolicyOptions } from "./options.ts";

/**
 * The policy's rules as pure functions of the spec: each returns the first
 * violation (rule name, JSON path of the offending field, why) or nothing.
 * Effects (realpath, stat of namespaces) come in through `Env`.
 */

export interface Violation {
  rule: keyof PolicyOptions;
  field: string;
  message: string;
}

export interface Env {
  /** Host rootfs path (already resolved). */
  rootfs?: string;
  vm: { vcpus: number; memoryMib: number };
  /** Canonical host path (symlinks resolved) of a path relative to the bundle. */
  realpath(p: string): string;
  /** Whether a namespace path is the host's own namespace of that type. */
  isHostNamespace(type: string, path: string): boolean;
}

/** Docker's default set: what a container has without asking for more. */
export const DEFAULT_CAPS: ReadonlySet<string> = new Set([
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
]);

/**
 * "Privileged" means any of: a capability here in any capability set (each
 * lets a process reconfigure or escape the kernel it runs on: in husk the
 * guest's, which the pod's containers share), or a device rule allowing
 * every device. `docker run --privileged` trips both.
 */
export const PRIVILEGED_CAPS: ReadonlySet<string> = new Set([
  "CAP_SYS_ADMIN",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_BOOT",
  "CAP_MAC_ADMIN",
  "CAP_MAC_OVERRIDE",
  "CAP_BPF",
]);

/** Namespaces that, when absent from the spec, are shared with the host. */
export const ISOLATING_NAMESPACES = ["pid", "ipc", "uts", "mount", "network"] as const;

const CAP_SETS = ["bounding", "effective", "permitted", "inheritable", "ambient"] as const;

function* capabilities(spec: FrozenSpec): Generator<{ cap: string; field: string }> {
  const caps = spec.process?.capabilities;
  if (!caps) return;
  for (const set of CAP_SETS) {
    for (const [i, cap] of (caps[set] ?? []).entries()) yield { cap, field: `process.capabilities.${set}[${i}]` };
  }
}

function under(path: string, dirs: readonly string[]): boolean {
  return dirs.some((d) => {
    const dir = resolve(d);
    return path === dir || path.startsWith(dir === "/" ? "/" : `${dir}/`);
  });
}

export function isBind(m: { type?: string; options?: readonly string[] }): boolean {
  return m.type === "bind" || m.type === "rbind" || (m.options ?? []).some((o) => o === "bind" || o === "rbind");
}

export function checkPrivileged(spec: FrozenSpec): Violation | undefined {
  for (const { cap, field } of capabilities(spec)) {
    if (PRIVILEGED_CAPS.has(cap)) return { rule: "refuse_privileged", field, message: `${cap} makes the container privileged` };
  }
  for (const [i, d] of (spec.linux?.resources?.devices ?? []).entries()) {
    const allDevices = d.allow && (d.type === undefined || d.type === "a") && d.major == null && d.minor == null;
    if (allDevices) {
      return { rule: "refuse_privileged", field: `linux.resources.devices[${i}]`, message: "allows access to every device" };
    }
  }
  return undefined;
}

export function checkHostNamespaces(spec: FrozenSpec, env: Env): Violation | undefined {
  const nss = spec.linux?.namespaces ?? [];
  for (const type of ISOLATING_NAMESPACES) {
    if (!nss.some((n) => n.type === type)) {
      return { rule: "refuse_host_namespaces", field: "linux.namespaces", message: `no "${type}" namespace: it would be the host's` };
    }
  }
  for (const [i, n] of nss.entries()) {
    if (n.path && env.isHostNamespace(n.type, n.path)) {
      return {
        rule: "refuse_host_namespaces",
        field: `linux.namespaces[${i}].path`,
        message: `${n.path} is the host's ${n.type} namespace`,
      };
    }
  }
  return undefined;
}

export function checkHostPaths(spec: FrozenSpec, allowed: readonly string[], env: Env): Violation | undefined {
  for (const [i, m] of (spec.mounts ?? []).entries()) {
    if (!isBind(m) || !m.source) continue;
    const real = env.realpath(m.source);
    if (!under(real, allowed)) {
      return {
        rule: "allowed_host_paths",
        field: `mounts[${i}].source`,
        message: `${real} is outside the allowed host paths (${allowed.join(", ") || "none"})`,
      };
    }
  }
  return undefined;
}

export function checkCapabilities(spec: FrozenSpec, allowed: readonly string[]): Violation | undefined {
  const ok = new Set([...DEFAULT_CAPS, ...allowed]);
  for (const { cap, field } of capabilities(spec)) {
    if (!ok.has(cap)) return { rule: "allowed_capabilities", field, message: `${cap} is neither a default capability nor allowed` };
  }
  return undefined;
}

export function checkRootfs(allowed: readonly string[], env: Env): Violation | undefined {
  const root = env.rootfs ? env.realpath(env.rootfs) : undefined;
  if (!root || !under(root, allowed)) {
    return {
      rule: "allowed_rootfs_dirs",
      field: "root.path",
      message: `${root ?? "(unknown rootfs)"} is outside the allowed rootfs directories (${allowed.join(", ")})`,
    };
  }
  return undefined;
}

export function checkLimits(spec: FrozenSpec, o: PolicyOptions): Violation | undefined {
  const mem = spec.linux?.resources?.memory?.limit;
  const cpu = spec.linux?.resources?.cpu;
  const hasMem = typeof mem === "number" && mem > 0;
  const hasCpu = typeof cpu?.quota === "number" && cpu.quota > 0;
  if (o.require_memory_limit && !hasMem) {
    return { rule: "require_memory_limit", field: "linux.resources.memory.limit", message: "a memory limit is required" };
  }
  if (o.require_cpu_limit && !hasCpu) {
    return { rule: "require_cpu_limit", field: "linux.resources.cpu.quota", message: "a CPU limit (quota) is required" };
  }
  if (o.max_vcpus !== undefined && hasCpu) {
    const cpus = Math.ceil(cpu!.quota! / (cpu!.period && cpu!.period > 0 ? cpu!.period : 100_000));
    if (cpus > o.max_vcpus) {
      return {
        rule: "max_vcpus",
        field: "linux.resources.cpu.quota",
        message: `asks for ${cpus} CPUs, more than the cap of ${o.max_vcpus}`,
      };
    }
  }
  if (o.max_memory_mib !== undefined && hasMem && mem! > o.max_memory_mib * 1024 * 1024) {
    return {
      rule: "max_memory_mib",
      field: "linux.resources.memory.limit",
      message: `asks for ${Math.ceil(mem! / 1048576)} MiB, more than the cap of ${o.max_memory_mib} MiB`,
    };
  }
  return undefined;
}

/** The VM size itself, checked before it boots. */
export function checkVm(vm: Env["vm"], o: PolicyOptions): Violation | undefined {
  if (o.max_vcpus !== undefined && vm.vcpus > o.max_vcpus) {
    return {
      rule: "max_vcpus",
      field: "hypervisor.vcpus",
      message: `the VM would have ${vm.vcpus} vCPUs, more than the cap of ${o.max_vcpus}`,
    };
  }
  if (o.max_memory_mib !== undefined && vm.memoryMib > o.max_memory_mib) {
    return {
      rule: "max_memory_mib",
      field: "hypervisor.memory_mib",
      message: `the VM would have ${vm.memoryMib} MiB, more than the cap of ${o.max_memory_mib} MiB`,
    };
  }
  return undefined;
}

/** All container rules in a fixed order; the first violation wins. */
export function evaluate(spec: FrozenSpec, o: PolicyOptions, env: Env): Violation | undefined {
  return (
    (o.refuse_privileged ? checkPrivileged(spec) : undefined) ??
    (o.refuse_host_namespaces ? checkHostNamespaces(spec, env) : undefined) ??
    (o.allowed_host_paths ? checkHostPaths(spec, o.allowed_host_paths, env) : undefined) ??
    (o.allowed_capabilities ? checkCapabilities(spec, o.allowed_capabilities) : undefined) ??
    (o.allowed_rootfs_dirs ? checkRootfs(o.allowed_rootfs_dirs, env) : undefined) ??
    checkLimits(spec, o) ??
    checkVm(env.vm, o)
  );
}
