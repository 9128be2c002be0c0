import { closeSync, fstatSync, openSync, readSync } from "node:fs";

/**
 * Every size husk bounds where an input enters it from a caller (config.json,
 * `exec --process`, hook output, plugin options, flags). One table, the same
 * as docs/limits.md; each limit is far above what a real workload uses, and
 * each refusal names the limit and the value. Pure helpers, no policy on
 * error classes: the door that calls them throws its own (E_INVALID_SPEC,
 * E_USAGE, E_HOOK, E_PLUGIN).
 */

export const KiB = 1024;
export const MiB = 1024 * KiB;

export const LIMITS = {
  /** A bundle's config.json on disk (refused before it is read). */
  configFileBytes: 4 * MiB,
  /**
   * The spec as compact JSON: it travels to the guest in one agent frame
   * (1 MiB, MAX_FRAME_BYTES), with room left for what plugins add (mounts,
   * env). Also an exec'd process.
   */
  specJsonBytes: 768 * KiB,
  /** Nesting of objects and arrays in config.json, a process or plugin options (the OCI spec itself nests 6 deep). */
  jsonDepth: 64,
  /** annotations: keys and values together, in UTF-8 bytes, as Kubernetes counts a pod's (and caps them). */
  annotationsBytes: 256 * KiB,
  /** process.env: every "KEY=VALUE" plus its NUL, as execve counts it. */
  envBytes: 512 * KiB,
  /** One argument or one variable: the kernel's MAX_ARG_STRLEN (32 pages) less its NUL; execve refuses longer ones. */
  argBytes: 128 * KiB - 1,
  /** A path in the spec (root.path, mount source/destination, cwd, hook path, cgroupsPath...): PATH_MAX less the NUL. */
  pathBytes: 4095,
  /** Entries in the spec's mounts (each may be a host bind mount shared into the VM). */
  mounts: 1024,
  /** A `exec --process` file (or stdin), and an `update --resources` file. */
  processFileBytes: 1 * MiB,
  /** The OCI state JSON a hook receives on stdin. */
  hookStdinBytes: 1 * MiB,
  /** What husk keeps of a hook's stdout, and of its stderr; more and the pipe is closed and the hook fails. */
  hookOutputBytes: 1 * MiB,
  /** A plugin's [plugins.<name>].options as JSON. */
  pluginOptionsBytes: 256 * KiB,
  /** --console-socket: a unix socket address holds 108 bytes with the NUL (sun_path). */
  consoleSocketPathBytes: 107,
  /** --pid-file: PATH_MAX less the NUL. */
  pidFilePathBytes: 4095,
  /** --pid-file's file name: NAME_MAX. */
  pidFileNameBytes: 255,
} as const;

export type LimitName = keyof typeof LIMITS;

/** "4 MiB", "256 KiB", "131071 bytes": a limit as the messages and the docs write it. */
export function formatLimit(n: number): string {
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= KiB && n % KiB === 0) return `${n / KiB} KiB`;
  return `${n}-byte`;
}

/** "over the 4 MiB limit" / "over the 107-byte limit". */
export function overLimit(limit: number): string {
  return `over the ${formatLimit(limit)} limit`;
}

/** A string as an error message may quote it: JSON, at most 64 characters, and its length when cut. */
export function quote(s: string, max = 64): string {
  return s.length <= max ? JSON.stringify(s) : `${JSON.stringify(s.slice(0, max))}… (${s.length} characters)`;
}

export function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

/**
 * Deepest nesting of arrays and objects in a JSON text, counting only up to
 * `stop` (returns stop + 1 as soon as it is passed): linear, no recursion, so
 * it runs before JSON.parse and JSON.stringify, which recurse.
 */
export function jsonTextDepth(text: string, stop: number = LIMITS.jsonDepth): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > stop) return deepest;
      }
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--;
  }
  return deepest;
}

/**
 * Deepest nesting of arrays and objects in a value (iterative; stops past
 * `stop`, so a cycle or a million levels costs at most `stop` levels of work
 * per branch). A value of depth ≤ stop can go through JSON.stringify and
 * structuredClone safely.
 */
export function valueDepth(value: unknown, stop: number = LIMITS.jsonDepth): number {
  let deepest = 0;
  const todo: [unknown, number][] = [[value, 0]];
  while (todo.length > 0) {
    const [v, d] = todo.pop()!;
    if (v === null || typeof v !== "object") continue;
    const here = d + 1;
    if (here > deepest) {
      deepest = here;
      if (deepest > stop) return deepest;
    }
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === "object") todo.push([child, here]);
    }
  }
  return deepest;
}

/**
 * A problem with a value's shape (too deep, or too long as compact JSON), or
 * undefined; the message names the limit and the value.
 */
export function jsonShapeProblem(value: unknown, maxBytes: number, what: string): string | undefined {
  const depth = valueDepth(value);
  if (depth > LIMITS.jsonDepth) return depthMessage(what);
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    return `${what} cannot be written as JSON: ${(e as Error).message}`;
  }
  const bytes = text === undefined ? 0 : utf8Bytes(text);
  if (bytes > maxBytes) return `${what} is ${bytes} bytes as compact JSON, ${overLimit(maxBytes)}`;
  return undefined;
}

/** The depth message for a JSON text, or undefined when within the limit. */
export function jsonTextDepthProblem(text: string, what: string): string | undefined {
  return jsonTextDepth(text) > LIMITS.jsonDepth ? depthMessage(what) : undefined;
}

function depthMessage(what: string): string {
  return `${what} nests more than ${LIMITS.jsonDepth} levels deep, over the ${LIMITS.jsonDepth}-level limit`;
}

export type BoundedRead = { ok: true; text: string } | { ok: false; bytes: number; exact: boolean };

/**
 * Read a file (or fd 0 for "-") as UTF-8, but never more than `limit` bytes:
 * a regular file whose size is over the limit is refused from its size
 * before a byte is read; a pipe is read up to limit + 1 bytes. Errors of
 * open/read are thrown as they are (the caller words them).
 */
export function readBounded(path: string, limit: number): BoundedRead {
  const fd = path === "-" ? 0 : openSync(path, "r");
  try {
    const st = fstatSync(fd);
    if (st.isFile() && st.size > limit) return { ok: false, bytes: st.size, exact: true };
    const buf = Buffer.allocUnsafe(limit + 1);
    let got = 0;
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, got, buf.length - got, null);
      } catch (e) {
        // A non-blocking stdin with nothing yet: wait a little and try again.
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") {
          Bun.sleepSync(5);
          continue;
        }
        throw e;
      }
      if (n === 0) break;
      got += n;
      if (got > limit) return { ok: false, bytes: got, exact: false };
    }
    return { ok: true, text: buf.toString("utf8", 0, got) };
  } finally {
    if (fd !== 0) closeSync(fd);
  }
}

/** "is 20971520 bytes" or, for a pipe read only up to the limit, "is more than 4194304 bytes". */
export function describeSize(r: { bytes: number; exact: boolean }): string {
  return r.exact ? `is ${r.bytes} bytes` : `is more than ${r.bytes - 1} bytes`;
}
