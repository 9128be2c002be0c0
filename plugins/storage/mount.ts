import { mkdir, readdir, rmdir, stat, unlink, writeFile, lstat } from "node:fs/promises";
import { UnsupportedError } from "../../src/errors.ts";
import type { ProcessRunner } from "../../src/plugins/types.ts";
import type { HostBind, SourceKind } from "./plan.ts";

/** Effects of the storage plugin: real bind mounts on the host, and their undo. */

export async function kindOf(path: string): Promise<SourceKind> {
  try {
    const s = await stat(path);
    if (s.isDirectory()) return "dir";
    if (s.isFile()) return "file";
    if (s.isBlockDevice()) return "block";
    if (s.isCharacterDevice()) return "char";
    if (s.isSocket()) return "socket";
    return "fifo";
  } catch {
    return "missing";
  }
}

/** Bind `b.source` onto its target; read-only is a second remount (a bind ignores `ro` on the first mount). */
export async function bindMount(b: HostBind, run: ProcessRunner): Promise<void> {
  if (b.kind === "dir") await mkdir(b.target, { recursive: true, mode: 0o700 });
  else await writeFile(b.target, "", { mode: 0o600, flag: "a" });
  await run("mount", [b.recursive ? "--rbind" : "--bind", b.source, b.target]);
  if (b.readonly) await run("mount", ["-o", "remount,ro,bind", b.target]);
}

/** Mount points at or below `dir`, deepest first, from /proc/self/mountinfo. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await Bun.file("/proc/self/mountinfo").text();
  const points = text
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => !!p)
    .map(unescapeMountinfo)
    .filter((p) => p === dir || p.startsWith(dir + "/"));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Undo every mount under `dir` and remove the targets. Idempotent (a second
 * call, or a call after a crashed create, finds what is left). Never removes
 * recursively: if a mount survives, its target stays and an error says so,
 * rather than deleting through a bind mount into host data.
 */
export async function unmountAll(dir: string, run: ProcessRunner): Promise<void> {
  for (const p of await mountsUnder(dir)) {
    const r = await run("umount", [p], { allowFailure: true });
    if (r.exitCode !== 0) await run("umount", ["-l", p]);
  }
  const left = await mountsUnder(dir);
  if (left.length) throw new UnsupportedError(`could not unmount ${left.join(", ")}`);
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return; // nothing was ever mounted for this container
  }
  for (const e of entries) {
    const p = `${dir}/${e}`;
    if ((await lstat(p)).isDirectory()) await rmdir(p);
    else await unlink(p);
  }
  await rmdir(dir);
}
