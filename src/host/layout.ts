import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, basename, join } from "node:path";
import * as v from "valibot";
import { InternalError, NotFoundError, asHuskError } from "./errors.ts";
import { validateId } from "./ids.ts";
import { issuePath } from "./valid.ts";

/**
 * The on-disk layout (DESIGN.md "On disk") and its two primitives: atomic
 * JSON writes and schema-checked reads. Ids are validated here, before they
 * become path components, so no caller can forget.
 */

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;
/**
 * The 9p-shared tree (shared/, shared/<cid>/): traversable by anyone, listable
 * by root only. A container in a user namespace runs as a mapped, non-root
 * uid in the guest and must still reach its rootfs; on the host the sandbox
 * directory above stays 0700.
 */
export const SHARED_DIR_MODE = 0o711;

export function sandboxesDir(root: string): string {
  return join(root, "sandboxes");
}
export function sandboxDir(root: string, sid: string): string {
  return join(sandboxesDir(root), validateId(sid, "sandbox id"));
}
export function sandboxConfigFile(root: string, sid: string): string {
  return join(sandboxDir(root, sid), "sandbox.json");
}
export function sandboxStateFile(root: string, sid: string): string {
  return join(sandboxDir(root, sid), "state.json");
}
export function sandboxLockFile(root: string, sid: string): string {
  return join(sandboxDir(root, sid), "lock");
}
export function sharedDir(root: string, sid: string): string {
  return join(sandboxDir(root, sid), "shared");
}
/** Host side of the bind mount the guest sees at /run/husk/shared/<cid>/rootfs. */
export function sharedRootfs(root: string, sid: string, cid: string): string {
  return join(sharedDir(root, sid), validateId(cid, "container id"), "rootfs");
}
export function containerDir(root: string, sid: string, cid: string): string {
  return join(sandboxDir(root, sid), "containers", validateId(cid, "container id"));
}
export function containerConfigFile(root: string, sid: string, cid: string): string {
  return join(containerDir(root, sid, cid), "config.json");
}
export function containerStateFile(root: string, sid: string, cid: string): string {
  return join(containerDir(root, sid, cid), "state.json");
}
/** Written by the shim when the container's process exits: {"exitCode": n}. */
export function containerExitFile(root: string, sid: string, cid: string): string {
  return join(containerDir(root, sid, cid), "exit.json");
}
export function containerMappingsDir(root: string): string {
  return join(root, "containers");
}
/** <root>/containers/<cid>: a symlink whose target is the sandbox id. */
export function containerMapping(root: string, cid: string): string {
  return join(containerMappingsDir(root), validateId(cid, "container id"));
}

/** Guest path of a container's rootfs (the 9p share is mounted at /run/husk/shared). */
export const GUEST_SHARED_DIR = "/run/husk/shared";
export function guestRootfs(cid: string): string {
  return `${GUEST_SHARED_DIR}/${validateId(cid, "container id")}/rootfs`;
}

export function makeDir(path: string, recursive = false, mode = DIR_MODE): void {
  try {
    mkdirSync(path, { mode, recursive });
  } catch (e) {
    throw asHuskError(e, "E_IO", `cannot create directory ${path}`);
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Write JSON so that a crash at any instant leaves the old file or the new
 * one: temp file in the same directory, fsync, rename over, fsync the dir.
 */
export function writeJsonAtomic(path: string, value: unknown): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  const data = Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "wx", FILE_MODE);
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
    fsyncDir(dir);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw asHuskError(e, "E_IO", `cannot write ${path}`);
  }
}

/**
 * Read a JSON file and validate it. Missing → E_NOT_FOUND (with `what`);
 * unreadable → E_IO; not JSON or not matching the schema → E_INTERNAL naming
 * the file and the bad key (husk wrote it, so it is corrupt).
 */
export function readJson<S extends v.GenericSchema>(path: string, schema: S, what: string): v.InferOutput<S> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      throw new NotFoundError(`${what} not found`, { details: { path } });
    }
    throw asHuskError(e, "E_IO", `cannot read ${path}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InternalError(`corrupt file ${path}: ${(e as Error).message}`, { cause: e, details: { path } });
  }
  const result = v.safeParse(schema, json);
  if (!result.success) {
    const issue = result.issues[0];
    const at = issuePath(issue) || "(top level)";
    throw new InternalError(`corrupt file ${path}: ${at}: ${issue.message}`, { details: { path, key: at } });
  }
  return result.output;
}

/** Read an optional file; undefined when it does not exist. */
export function readJsonIfExists<S extends v.GenericSchema>(
  path: string,
  schema: S,
  what: string,
): v.InferOutput<S> | undefined {
  try {
    return readJson(path, schema, what);
  } catch (e) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
}

