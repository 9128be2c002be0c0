import { testVmSpec } from "../vm-spec.ts";
import { chmodSync, copyFileSync, existsSync, mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import type { VmSpec } from "../../../src/hypervisor/types.ts";
import type { OciSpec } from "../../../src/oci/spec.ts";
import { guestImage } from "./env.ts";

/** A VmSpec booting the guest image, in <root>/sandboxes/<sid> (the layout MonitorBackend requires). */
export function imageVmSpec(root: string, sid: string, over: Partial<VmSpec> = {}): VmSpec {
  const image = guestImage();
  if (!image) throw new Error("no guest image");
  return testVmSpec(join(root, "sandboxes", sid), sid, {
    kernel: image.kernel,
    ...(image.initrd ? { initrd: image.initrd } : {}),
    ...(image.agentDir ? { agentDir: image.agentDir } : {}),
    machine: image.machine,
    memoryMiB: 512,
    kernelParams: [], // the driver adds the image manifest's
    bootTimeoutMs: Number(process.env.HUSK_BOOT_TIMEOUT_MS ?? 180_000),
    ...over,
  });
}

/** Where the guest sees the sandbox's shared directory (virtio-9p "husk-shared"). */
export const GUEST_SHARED = "/run/husk/shared";

const APPLETS = ["sh", "sleep", "cat", "echo", "true", "false", "kill", "ps"];

/**
 * A busybox rootfs for container cid under the host's shared dir; returns
 * the path the guest sees it at (what goes in the OCI spec's root.path).
 */
export function busyboxRootfs(sharedDir: string, cid: string): string {
  const root = join(sharedDir, cid, "rootfs");
  if (!existsSync(join(root, "bin", "busybox"))) {
    mkdirSync(join(root, "bin"), { recursive: true });
    for (const d of ["proc", "dev", "sys", "tmp"]) mkdirSync(join(root, d), { recursive: true });
    copyFileSync("/bin/busybox", join(root, "bin/busybox"));
    chmodSync(join(root, "bin/busybox"), 0o755);
    for (const a of APPLETS) symlinkSync("busybox", join(root, "bin", a));
  }
  return `${GUEST_SHARED}/${cid}/rootfs`;
}

/** A minimal OCI spec running args as root in its own pid/mount/ipc/uts namespaces. */
export function containerSpec(rootPath: string, cid: string, args: string[]): OciSpec {
  return {
    ociVersion: "1.0.2",
    root: { path: rootPath, readonly: false },
    process: { args, cwd: "/", user: { uid: 0, gid: 0 }, env: ["PATH=/bin"], terminal: false },
    hostname: cid,
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    ],
    linux: { namespaces: [{ type: "pid" }, { type: "mount" }, { type: "ipc" }, { type: "uts" }] },
  } as OciSpec;
}
