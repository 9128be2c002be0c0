import { mkdirSync, rmSync, symlinkSync } from "node:fs";
import { dirname } from "node:path";
import { asHuskError } from "../host/errors.ts";
import { logger } from "../host/log.ts";
import { DIR_MODE, SHARED_DIR_MODE } from "../host/layout.ts";
import { removeTree } from "../host/mounts.ts";

/**
 * The container rootfs reaches the guest through the sandbox's 9p share:
 * <sandboxDir>/shared/<cid>/rootfs is a bind mount of the bundle's rootfs.
 * Without root (unit tests run unprivileged somewhere) it is a symlink,
 * logged as such. Unmounting is idempotent and finds leftovers of a crash
 * from /proc/self/mountinfo; nothing is ever removed recursively while a
 * mount remains under it (that would delete the user's rootfs).
 */

const log = logger("rootfs");

export type ShareKind = "bind" | "symlink";

export function canBindMount(): boolean {
  return process.getuid?.() === 0;
}

export async function shareRootfs(source: string, target: string): Promise<ShareKind> {
  // Idempotent: a leftover of a crashed attempt (mount or symlink) is cleared first.
  await removeTree(dirname(target));
  mkdirSync(dirname(target), { recursive: true, mode: SHARED_DIR_MODE });
  if (!canBindMount()) {
    log.warn(`not root: sharing ${source} as a symlink, not a bind mount (test mode)`);
    symlinkSync(source, target);
    return "symlink";
  }
  mkdirSync(target, { mode: DIR_MODE });
  log.debug(`mount --bind ${source} ${target}`);
  try {
    // execa loads on first use: `husk state` and `list` never mount and should not pay for it.
    const { execa } = await import("execa");
    await execa("mount", ["--bind", source, target]);
  } catch (e) {
    rmSync(target, { recursive: false, force: true });
    throw asHuskError(e, "E_IO", `cannot bind-mount ${source} on ${target}`);
  }
  return "bind";
}

/** Undo shareRootfs for one container: removes <shared>/<cid> (idempotent). */
export async function unshareRootfs(target: string): Promise<void> {
  await removeTree(dirname(target));
}
