import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { mountsUnder, unmountAll } from "../host/mounts.ts";
import { asHuskError, InvalidSpecError, IoError } from "../host/errors.ts";
import { logger } from "../host/log.ts";
import type { Mount } from "./gen/containerd/types/mount_pb.ts";

const log = logger("shimv2");

/** Mounts containerd may hand one task (a snapshot is one or two). */
const MAX_ROOTFS_MOUNTS = 16;

/**
 * containerd's rootfs mounts onto <bundle>/rootfs, as its runc shim does
 * before `runc create`; husk then shares that directory with the guest.
 */
export async function mountRootfs(bundle: string, mounts: readonly Mount[]): Promise<string> {
  if (mounts.length > MAX_ROOTFS_MOUNTS) throw new InvalidSpecError(`${mounts.length} rootfs mounts (at most ${MAX_ROOTFS_MOUNTS})`);
  const target = join(bundle, "rootfs");
  mkdirSync(target, { recursive: true, mode: 0o711 });
  if (mountsUnder(target).includes(target)) throw new IoError(`${target} is already a mount point`);
  try {
    for (const m of mounts) {
      if (!/^[a-z0-9_.-]{1,32}$/.test(m.type)) throw new InvalidSpecError(`rootfs mount type ${JSON.stringify(m.type)} is not valid`);
      if (m.options.some((o) => o.includes(","))) throw new InvalidSpecError(`rootfs mount options must not contain commas`);
      const opts = m.options.join(",");
      const args = [...(m.type === "bind" ? [] : ["-t", m.type]), ...(opts ? ["-o", opts] : []), "--", m.source, target];
      log.debug(`mount ${args.join(" ")}`);
      const res = await execa("mount", args, { reject: false });
      if (res.exitCode !== 0) throw new IoError(`cannot mount the rootfs (${m.type} ${m.source}) on ${target}: ${res.stderr.trim()}`);
    }
  } catch (e) {
    await unmountAll(target).catch(() => {});
    throw asHuskError(e, "E_IO", "rootfs mount");
  }
  return target;
}
