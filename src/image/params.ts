/**
 * Kernel parameters every husk guest image needs, and why. The QEMU driver
 * appends its own (tsc_early_khz= from the host's TSC, devices it adds).
 */
import type { KernelKind } from "./types.ts";

const COMMON: readonly string[] = [
  "console=ttyS0", // the 8250 UART: console.log on the host
  "quiet", // printing to a TCG-emulated UART is slow
  "panic=-1", // reboot at once on panic; with QEMU -no-reboot the VM exits
  "reboot=t", // triple-fault reboot: fast without ACPI, and QEMU -no-reboot exits
  "cryptomgr.notests", // crypto self-tests cost ~0.25 s under TCG
  "lsm=capability", // no LSM initialisation beyond capabilities
  "random.trust_cpu=on", // RDRAND seeds the CRNG: Bun's getrandom() must not wait for entropy
];

/**
 * microvm boots fastest without ACPI; our kernel then finds its virtio-mmio
 * devices on the command line QEMU appends (VIRTIO_MMIO_CMDLINE_DEVICES).
 * Debian's kernel lacks that option, so it keeps ACPI, which describes them.
 */
export function imageKernelParams(kind: KernelKind): string[] {
  return kind === "minimal" ? [...COMMON, "acpi=off"] : [...COMMON];
}

/** The machine type the image is measured and recommended on (README, "Boot times"). */
export const RECOMMENDED_MACHINE = "microvm" as const;
