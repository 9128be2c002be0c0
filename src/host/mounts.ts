import { readFileSync, rmSync } from "node:fs";
import { IoError } from "./errors.ts";
import { logger } from "./log.ts";

/**
 * Mount points from /proc/self/mountinfo, unmounting, and a recursive
 * remove that never crosses a mount point (that would delete what is
 * mounted: a user's rootfs, a volume).
 */

const log = logger("mounts");

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

/** True when dir itself is a mount point. */
export function isMountPoint(dir: string): boolean {
  return mountsUnder(dir).includes(dir);
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

/** rm -rf that refuses to cross a mount point (after trying to unmount them). */
export async function removeTree(dir: string): Promise<void> {
  await unmountAll(dir);
  const left = mountsUnder(dir);
  if (left.length > 0) throw new IoError(`refusing to remove ${dir}: still mounted: ${left.join(", ")}`);
  rmSync(dir, { recursive: true, force: true });
}
