import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * What the VM integration tests boot. Prefers the real guest image
 * (/var/lib/husk/image) when present; otherwise Debian's kernel plus a tiny
 * busybox initramfs made here. `skip` says why a test cannot run.
 */

export const IMAGE_DIR = process.env.HUSK_IMAGE_DIR ?? "/var/lib/husk/image";
export const QEMU = "qemu-system-x86_64";

export function qemuPath(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir && existsSync(join(dir, QEMU))) return join(dir, QEMU);
  }
  return undefined;
}

export function debianKernel(): string | undefined {
  if (!existsSync("/boot")) return undefined;
  const k = readdirSync("/boot")
    .filter((f) => f.startsWith("vmlinuz-"))
    .sort()
    .at(-1);
  return k ? join("/boot", k) : undefined;
}

export function busybox(): string | undefined {
  return ["/bin/busybox", "/usr/bin/busybox"].find((p) => existsSync(p));
}

/** Reason the tiny-initramfs VM tests must be skipped, or undefined. */
export function skipReason(): string | undefined {
  if (!qemuPath()) return `${QEMU} not on PATH`;
  if (!debianKernel()) return "no kernel in /boot (vmlinuz-*)";
  if (!busybox()) return "busybox(-static) not installed";
  if (!existsSync("/usr/bin/cpio") && !existsSync("/bin/cpio")) return "cpio not installed";
  return undefined;
}

/**
 * Build an initramfs with busybox and a shell init. The init prints
 * `marker`, then runs `script` (shell), then idles (or powers off when
 * script ends with `poweroff -f`).
 */
export function makeInitramfs(
  marker: string,
  script = "",
  dir = mkdtempSync(join(tmpdir(), "husk-initrd-")),
  modules: string[] = [],
): string {
  const root = join(dir, "root");
  for (const d of ["bin", "proc", "sys", "dev", "tmp", "lib"]) mkdirSync(join(root, d), { recursive: true });
  copyFileSync(busybox()!, join(root, "bin/busybox"));
  chmodSync(join(root, "bin/busybox"), 0o755);
  for (const m of modules) copyFileSync(m, join(root, "lib", m.split("/").at(-1)!));
  const insmods = modules.map((m) => `insmod /lib/${m.split("/").at(-1)}`).join("\n");
  writeFileSync(
    join(root, "init"),
    `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
${insmods}
echo ${marker}
${script}
while true; do sleep 3600; done
`,
    { mode: 0o755 },
  );
  const out = join(dir, "initramfs.cpio");
  execFileSync("sh", ["-c", `cd '${root}' && find . | cpio -o -H newc --quiet > '${out}'`]);
  return out;
}

/** Host kernel modules (load order) for the virtio-serial agent port under Debian's kernel on microvm (virtio-mmio via ACPI). */
export function virtioSerialModules(): string[] | undefined {
  const k = debianKernel();
  if (!k) return undefined;
  const base = `/usr/lib/modules/${k.split("vmlinuz-")[1]}/kernel/drivers`;
  const mods = ["virtio/virtio_ring.ko", "virtio/virtio.ko", "virtio/virtio_mmio.ko", "char/virtio_console.ko"].map((m) => `${base}/${m}`);
  return mods.every((m) => existsSync(m)) ? mods : undefined;
}

/**
 * Guest side of the agent HANDSHAKE ONLY, in busybox sh: the host's HELLO
 * frame (12-byte header + {"version":1,"nonce":<uuid>} = 73 bytes) is what a
 * responder sends back byte for byte (src/agent/wire/session.ts onHello), so
 * echoing it completes the handshake. It serves no methods: enough to test
 * the monitor's boot, status, pause/resume, QEMU death and cleanup against
 * real QEMU while the real guest image is not there. Not a guest agent.
 */
export const ECHO_HELLO_SCRIPT = `
dev=
for i in 1 2 3 4 5 6 7 8 9 10; do
  for p in /sys/class/virtio-ports/*; do [ "$(cat $p/name 2>/dev/null)" = agent.channel.0 ] && dev=/dev/\${p##*/}; done
  [ -n "$dev" ] && break; sleep 0.2
done
echo "agent port: $dev"
exec 3<>$dev
head -c 73 <&3 >/tmp/hello
cat /tmp/hello >&3
echo "handshake echoed"
`;
