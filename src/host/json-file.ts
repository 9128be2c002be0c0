import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import type * as v from "valibot";
import { InternalError, NotFoundError, asHuskError } from "./errors.ts";
import { DIR_MODE, FILE_MODE } from "./layout.ts";
import { parseOr } from "./valid.ts";

/**
 * husk's files written so that a crash at any instant leaves the old file or
 * the new one, and read back validated (husk wrote them, so a bad one is corrupt).
 */

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
 * Temp file in the same directory, fsync, rename over, fsync the directory;
 * the temp file is removed on failure. Its name does not contain the target's,
 * so a target name at NAME_MAX still works. Errors are E_IO with the errno
 * error as cause.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = FILE_MODE): void {
  const dir = dirname(path);
  const tmp = join(dir, `.husk-${process.pid}-${Math.random().toString(36).slice(2)}.tmp`);
  const bytes = typeof data === "string" ? Buffer.from(data) : data;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "wx", mode);
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
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

/** writeFileAtomic of 2-space indented JSON and a newline. */
export function writeJsonAtomic(path: string, value: unknown, mode = FILE_MODE): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, mode);
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
  return parseStored(path, schema, json);
}

/** Validate what was read from husk's file `path`: not matching → E_INTERNAL naming the file and the bad key. */
export function parseStored<S extends v.GenericSchema>(path: string, schema: S, json: unknown): v.InferOutput<S> {
  return parseOr(
    schema,
    json,
    ({ at, message }) => new InternalError(`corrupt file ${path}: ${at}: ${message}`, { details: { path, key: at } }),
  );
}

/** Read an optional file; undefined when it does not exist. */
export function readJsonIfExists<S extends v.GenericSchema>(path: string, schema: S, what: string): v.InferOutput<S> | undefined {
  try {
    return readJson(path, schema, what);
  } catch (e) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
}
