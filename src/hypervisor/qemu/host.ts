import type { Accelerator } from "../types.ts";

/**
 * Facts about the host that shape the QEMU command line. Parsed by pure
 * functions here; gathered (file reads, an open of /dev/kvm) only in
 * ./probe.ts, so the builders stay testable without the machine.
 */
export interface HostFacts {
  /** CPU flags from /proc/cpuinfo (first processor). */
  cpuFlags: ReadonlySet<string>;
  /** Host TSC frequency in kHz, when it can be known without dmesg. */
  tscKhz: number | undefined;
  /** /dev/kvm could be opened read-write. */
  kvmOpens: boolean;
  /** /dev/vhost-vsock exists (vsock agent transport possible). */
  vhostVsock: boolean;
}

export interface CpuInfo {
  flags: Set<string>;
  tscKhz: number | undefined;
}

/**
 * Parse the first processor block of /proc/cpuinfo. The TSC frequency is
 * what microvm guests need as `tsc_early_khz` (no HPET/PMTIMER to calibrate
 * against); under TCG the guest reads the host TSC, so the host value is right.
 *  - `tsc_known_freq` (hypervisor-reported TSC): "cpu MHz" is the TSC rate.
 *  - else with `constant_tsc`: bogomips = 2 × TSC MHz on x86 (loops_per_jiffy
 *    is calibrated from the TSC), which, unlike "cpu MHz", ignores cpufreq.
 *  - else unknown.
 */
export function parseCpuInfo(text: string): CpuInfo {
  const block = text.split(/\n\s*\n/)[0] ?? "";
  const fields = new Map<string, string>();
  for (const line of block.split("\n")) {
    const i = line.indexOf(":");
    if (i < 0) continue;
    const key = line.slice(0, i).trim().toLowerCase();
    if (!fields.has(key)) fields.set(key, line.slice(i + 1).trim());
  }
  const flags = new Set((fields.get("flags") ?? "").split(/\s+/).filter(Boolean));
  const mhz = positive(fields.get("cpu mhz"));
  const bogomips = positive(fields.get("bogomips"));
  let tscKhz: number | undefined;
  if (flags.has("tsc_known_freq") && mhz !== undefined) tscKhz = Math.round(mhz * 1000);
  else if (flags.has("constant_tsc") && bogomips !== undefined) tscKhz = Math.round(bogomips * 500);
  return { flags, tscKhz };
}

function positive(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d+(\.\d+)?$/.test(s)) return undefined;
  const n = Number(s);
  return n > 0 && Number.isFinite(n) ? n : undefined;
}

export interface AcceleratorChoice {
  accelerator: "kvm" | "tcg";
  /** Set when the choice deserves a warning (auto fell back to TCG, or kvm was forced). */
  warning?: string;
}

/**
 * auto = KVM only when /dev/kvm opens AND the CPU shows vmx/svm: on nested
 * hosts without virtualisation extensions /dev/kvm opens and KVM_CREATE_VM
 * works, yet guests never boot (measured), so opening it proves nothing.
 */
export function detectAccelerator(requested: Accelerator, cpuFlags: ReadonlySet<string>, kvmOpens: boolean): AcceleratorChoice {
  const virt = cpuFlags.has("vmx") || cpuFlags.has("svm");
  if (requested === "tcg") return { accelerator: "tcg" };
  if (requested === "kvm") {
    return virt && kvmOpens
      ? { accelerator: "kvm" }
      : {
          accelerator: "kvm",
          warning: `accelerator kvm forced but ${!kvmOpens ? "/dev/kvm does not open" : "the CPU shows no vmx/svm"}: the guest may not boot`,
        };
  }
  if (virt && kvmOpens) return { accelerator: "kvm" };
  return {
    accelerator: "tcg",
    warning: `KVM not usable (${!virt ? "no vmx/svm in CPU flags" : "/dev/kvm does not open"}): using TCG software emulation, boots take seconds`,
  };
}
