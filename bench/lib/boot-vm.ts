/**
 * Boot one throwaway VM straight from QEMU (not through the husk driver) and
 * time it: used by bench/boot.ts and the image integration test to measure
 * kernel + initramfs + init on their own. The guest's "agent" is whatever the
 * caller puts in agentDir (a script that prints and exits); the init then
 * takes the VM down and QEMU exits (-no-reboot).
 */
import { readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { HuskConfig } from "../../src/config/schema.ts";
import { readImageManifest } from "../../src/image/manifest.ts";
import { parseCpuInfo } from "../../src/hypervisor/qemu/host.ts";

export type Machine = "microvm" | "q35" | "pc";

export interface BootOptions {
  kernel: string;
  initrd?: string;
  machine: Machine;
  params: string[];
  /** Exported as 9p "husk-agent" (read-only). */
  agentDir?: string;
  /** Exported as 9p "husk-shared". */
  sharedDir?: string;
  memoryMiB?: number;
  timeoutMs?: number;
  qemu?: string;
}

export interface BootResult {
  /** Wall time from spawning QEMU to its exit. */
  ms: number;
  /** QEMU exit code; null when killed at the timeout. */
  exitCode: number | null;
  timedOut: boolean;
  console: string;
}

/** The host TSC rate for tsc_early_khz (microvm has no HPET/PMTIMER to calibrate against). */
export function hostTscKhz(): number | undefined {
  return parseCpuInfo(readFileSync("/proc/cpuinfo", "utf8")).tscKhz;
}

/** QEMU command line (pure). */
export function bootArgs(o: BootOptions, consoleFile: string, tscKhz: number | undefined): string[] {
  const mmio = o.machine === "microvm";
  const dev = (base: string) => (mmio ? `${base}-device` : `${base}-pci`);
  const machine =
    o.machine === "microvm"
      ? `microvm,x-option-roms=off,isa-serial=on,rtc=on${o.params.includes("acpi=off") ? ",acpi=off" : ""}`
      : o.machine === "q35"
        ? "q35,vmport=off,sata=off,smbus=off"
        : "pc,vmport=off";
  const params = [...o.params, ...(tscKhz ? [`tsc_early_khz=${tscKhz}`] : [])];
  const args = [
    "-nodefaults",
    "-no-user-config",
    "-nographic",
    "-no-reboot",
    "-machine",
    machine,
    "-accel",
    "tcg,tb-size=64",
    "-cpu",
    "max",
    "-smp",
    "1",
    "-m",
    `${o.memoryMiB ?? 512}M`,
    "-kernel",
    o.kernel,
    ...(o.initrd ? ["-initrd", o.initrd] : []),
    "-append",
    params.join(" "),
    "-chardev",
    `file,id=console,path=${consoleFile}`,
    "-serial",
    "chardev:console",
  ];
  if (o.sharedDir) {
    args.push(
      "-fsdev",
      `local,id=fs0,path=${o.sharedDir},security_model=none`,
      "-device",
      `${dev("virtio-9p")},fsdev=fs0,mount_tag=husk-shared`,
    );
  }
  if (o.agentDir) {
    args.push(
      "-fsdev",
      `local,id=fs1,path=${o.agentDir},security_model=none,readonly=on`,
      "-device",
      `${dev("virtio-9p")},fsdev=fs1,mount_tag=husk-agent`,
    );
  }
  return args;
}

export async function bootOnce(o: BootOptions): Promise<BootResult> {
  const dir = await mkdtemp(join(tmpdir(), "husk-boot-"));
  const consoleFile = join(dir, "console.log");
  try {
    const args = bootArgs(o, consoleFile, hostTscKhz());
    const start = performance.now();
    const proc = Bun.spawn([o.qemu ?? "qemu-system-x86_64", ...args], { stdout: "ignore", stderr: "pipe" });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill("SIGKILL");
    }, o.timeoutMs ?? 60_000);
    const exitCode = await proc.exited;
    const ms = performance.now() - start;
    clearTimeout(timer);
    const stderr = await new Response(proc.stderr).text();
    const console = (await readFile(consoleFile, "utf8").catch(() => "")) + (stderr ? `\n[qemu stderr] ${stderr}` : "");
    return { ms, exitCode: timedOut ? null : exitCode, timedOut, console };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function stats(values: number[]): { median: number; min: number; max: number; p90: number; n: number } {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))]!;
  const r = (x: number) => Math.round(x);
  return { median: r(at(0.5)), min: r(s[0]!), max: r(s.at(-1)!), p90: r(at(0.9)), n: s.length };
}

/**
 * Boot options for a bare VM of the configured guest image (same kernel,
 * initramfs, machine, params and memory as husk would use), whose "agent" is
 * the given shell script instead of husk: the baseline husk is compared to.
 */
export async function bareImageBoot(config: HuskConfig, work: string, agentScript: string): Promise<BootOptions> {
  const manifest = await readImageManifest(dirname(config.hypervisor.kernel));
  const agentDir = join(work, "bare-agent");
  await mkdir(agentDir, { recursive: true });
  await writeFile(join(agentDir, "husk"), `#!/bin/sh\n${agentScript}\n`);
  await chmod(join(agentDir, "husk"), 0o755);
  return {
    kernel: config.hypervisor.kernel,
    initrd: config.hypervisor.initrd,
    machine: config.hypervisor.machine as Machine,
    params: [...manifest.kernelParams, ...config.hypervisor.kernel_params],
    agentDir,
    sharedDir: work,
    memoryMiB: config.hypervisor.memory_mib,
  };
}
