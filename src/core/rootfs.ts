import { mkdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { dirname } from "node:path";
import { IoError, asHuskError } from "../host/errors.ts";
import { logger } from "../host/log.ts";
import { DIR_MODE, SHARED_DIR_MODE } from "../host/layout.ts";

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

/** Decode the octal escapes mountinfo uses for spaces, tabs, newlines, backslashes. */
function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** Mount points at or under dir, deepest first. */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith("/") ? dir : `${dir}/`;
  const text = readFileSync("/proc/self/mountinfo", "utf8");
  const points = text
    .split("\n")
    .filter(Boolean)
    .map((line) => unescapeMountPath(line.split(" ")[4] ?? ""))
    .filter((p) => p === dir || p.startsWith(prefix));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

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

/** Unmount every mount at or under dir (deepest first); lazy unmount when busy. */
export async function unmountAll(dir: string): Promise<void> {
  for (const point of mountsUnder(dir)) {
    log.debug(`umount ${point}`);
    const { execa } = await import("execa");
    const r = await execa("umount", [point], { reject: false });
    if (r.exitCode !== 0) {
      const lazy = await execa("umount", ["-l", point], { reject: false });
      if (lazy.exitCode !== 0) throw new IoError(`cannot unmount ${point}: ${lazy.stderr || r.stderr}`);
    }
  }
}

/** Undo shareRootfs for one container: removes <shared>/<cid> (idempotent). */
export async function unshareRootfs(target: string): Promise<void> {
  await removeTree(dirname(target));
}

/** rm -rf that refuses to cross a mount point (after trying to unmount them). */
export async function removeTree(dir: string): Promise<void> {
  await unmountAll(dir);
  const left = mountsUnder(dir);
  if (left.length > 0) throw new IoError(`refusing to remove ${dir}: still mounted: ${left.join(", ")}`);
  rmSync(dir, { recursive: true, force: true });
}
