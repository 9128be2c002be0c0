import { mkdir, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { removeTree } from "../../src/host/mounts.ts";
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
  await mkdir(dirname(b.target), { recursive: true, mode: 0o700 });
  if (b.kind === "dir") await mkdir(b.target, { mode: 0o700 });
  else await writeFile(b.target, "", { mode: 0o600, flag: "a" });
  await run("mount", [b.recursive ? "--rbind" : "--bind", b.source, b.target]);
  if (b.readonly) await run("mount", ["-o", "remount,ro,bind", b.target]);
}

/**
 * Undo every mount under `dir` and remove it: the core's removeTree, which
 * unmounts deepest first and refuses to delete while a mount remains (never
 * deleting through a bind mount into host data). Idempotent, so it also
 * cleans after a crashed create.
 */
export async function unmountAll(dir: string): Promise<void> {
  await removeTree(dir);
}
