/**
 * Kernel parameters every husk guest image needs, and why. The QEMU driver
 * appends its own (tsc_early_khz= from the host's TSC, devices it adds).
 */
export const IMAGE_KERNEL_PARAMS: readonly string[] = [
  "console=ttyS0", // the 8250 UART: console.log on the host
  "quiet", // printing to a TCG-emulated UART is slow
  "panic=-1", // reboot at once on panic; with QEMU -no-reboot the VM exits
  "reboot=t", // triple-fault reboot: fast without ACPI, and QEMU -no-reboot exits
  "acpi=off", // microvm boots fastest without ACPI (the init reboots instead of powering off)
  "cryptomgr.notests", // crypto self-tests cost ~0.25 s under TCG
  "lsm=capability", // no LSM initialisation beyond capabilities
  "random.trust_cpu=on", // RDRAND seeds the CRNG: Bun's getrandom() must not wait for entropy
];

/** The machine type the image is measured and recommended on (docs/image.md). */
export const RECOMMENDED_MACHINE = "microvm" as const;
