import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { QEMU, qemuPath } from "../../integration/vm/fixture.ts";

/**
 * What the real-driver conformance suites need, found the way the VM
 * integration and e2e tests find it (test/integration/vm/fixture.ts,
 * test/e2e/env.ts): QEMU on PATH, the guest image (`husk image build`,
 * HUSK_IMAGE_DIR or /var/lib/husk/image), root, and for the monitor the
 * compiled binary (./dist/husk). Each `…SkipReason` is undefined when the
 * real driver can run, else the reason printed with the skip.
 */

export const IMAGE_DIR = process.env.HUSK_IMAGE_DIR ?? "/var/lib/husk/image";
export const HUSK = join(import.meta.dir, "../../../dist/husk");

export interface GuestImage {
  kernel: string;
  initrd?: string;
  agentDir?: string;
  machine: string;
  kernelParams: string[];
}

interface Manifest {
  kernel: { path: string };
  initrd?: { path: string };
  agentDir?: string;
  machine: string;
  kernelParams: string[];
}

/** The guest image's boot files (absolute paths), or undefined when there is no image. */
export function guestImage(): GuestImage | undefined {
  const file = join(IMAGE_DIR, "manifest.json");
  if (!existsSync(file)) return undefined;
  try {
    const m = JSON.parse(readFileSync(file, "utf8")) as Manifest;
    return {
      kernel: join(IMAGE_DIR, m.kernel.path),
      ...(m.initrd ? { initrd: join(IMAGE_DIR, m.initrd.path) } : {}),
      ...(m.agentDir ? { agentDir: join(IMAGE_DIR, m.agentDir) } : {}),
      machine: m.machine,
      kernelParams: m.kernelParams,
    };
  } catch {
    return undefined;
  }
}

/** Why the real QEMU hypervisor driver cannot be tested here, or undefined. */
export function qemuSkipReason(): string | undefined {
  if (process.geteuid?.() !== 0) return "not root (the real drivers confine QEMU; run as root as CI does)";
  if (!qemuPath()) return `${QEMU} not on PATH`;
  const image = guestImage();
  if (!image) return `no guest image in ${IMAGE_DIR} (./dist/husk image build, or set HUSK_IMAGE_DIR)`;
  if (!existsSync(image.kernel)) return `guest kernel ${image.kernel} missing`;
  return undefined;
}

/** Why a real VM with the guest agent (monitor + QEMU + image) cannot be booted here, or undefined. */
export function realVmSkipReason(): string | undefined {
  const q = qemuSkipReason();
  if (q) return q;
  if (!existsSync(HUSK)) return `${HUSK} missing (bun run build.ts)`;
  const image = guestImage()!;
  if (!image.agentDir || !existsSync(join(image.agentDir, "husk"))) return `the guest image in ${IMAGE_DIR} has no agent executable`;
  if (!existsSync("/bin/busybox")) return "busybox-static not installed (container rootfs)";
  return undefined;
}

/** Print the skip, so a skipped real-driver suite is never mistaken for a pass. */
export function announceSkip(suite: string, reason: string | undefined): void {
  if (reason) console.warn(`SKIP ${suite} (real driver): ${reason}`);
}
