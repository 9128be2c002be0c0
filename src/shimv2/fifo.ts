import { closeSync, constants, open, openSync } from "node:fs";
import { IoError, UnsupportedError } from "../host/errors.ts";
import { logger } from "../host/log.ts";
import { withTimeout } from "../host/time.ts";
import { startBinaryLogger } from "./binary-log.ts";

/**
 * The stdio containerd hands a task: fifo paths (ctr, CRI), `file://` paths
 * (append to a file), `binary://` loggers (binary-log.ts), or nothing. Opening a fifo waits for its other end, so
 * it runs on the thread pool with a deadline; when the deadline passes, the
 * pending open is released by opening the fifo ourselves (read-write,
 * non-blocking, which never waits) and the stream is refused.
 */

const log = logger("shimv2");
const OPEN_TIMEOUT_MS = 30_000;

export type Direction = "in" | "out";

function openAsync(path: string, flags: number): Promise<number> {
  return new Promise((resolve, reject) => open(path, flags, 0o600, (err, fd) => (err ? reject(err) : resolve(fd))));
}

/** An fd for one output stream (stdout, stderr), or undefined when none was given. */
export async function openStdio(uri: string, dir: Direction, timeoutMs = OPEN_TIMEOUT_MS): Promise<number | undefined> {
  if (uri === "") return undefined;
  let path = uri;
  let isFile = false;
  if (uri.startsWith("file://")) {
    path = uri.slice("file://".length);
    isFile = true;
  } else if (uri.startsWith("binary://")) {
    throw new UnsupportedError(`stdio ${uri}: a binary:// logger takes stdout and stderr together (openProcessStdio)`);
  } else if (uri.includes("://")) {
    throw new UnsupportedError(`stdio ${uri}: unknown scheme`);
  }
  if (!path.startsWith("/")) throw new IoError(`stdio ${uri}: not an absolute path`);
  if (isFile) {
    if (dir === "in") throw new UnsupportedError(`stdin cannot be a file:// URI (${uri})`);
    return openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
  }
  const flags = dir === "in" ? constants.O_RDONLY : constants.O_WRONLY;
  const pending = openAsync(path, flags);
  try {
    return await withTimeout(pending, timeoutMs, () => new IoError(`stdio ${path}: nobody opened its other end within ${timeoutMs} ms`));
  } catch (e) {
    if (e instanceof IoError) {
      // Release the thread-pool open still waiting, then close what it returns.
      try {
        closeSync(openSync(path, constants.O_RDWR | constants.O_NONBLOCK));
      } catch {
        // gone meanwhile
      }
      pending.then(closeSync, () => {});
      throw e;
    }
    throw new IoError(`cannot open stdio ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}

/**
 * A process's stdin fifo. The client may open its end only later (ctr does,
 * after Create), so the shim holds a write end itself — the `keeper`, opened
 * read-write, which never waits — and the process's read end opens at once.
 * The process sees EOF once the client has closed its end and CloseIO (or
 * the process's exit) has closed the keeper, as with containerd's runc shim.
 */
export function openStdin(uri: string): { fd: number; keeper: number } | undefined {
  if (uri === "") return undefined;
  if (uri.includes("://")) throw new UnsupportedError(`stdin ${uri}: only fifo paths are supported`);
  if (!uri.startsWith("/")) throw new IoError(`stdin ${uri}: not an absolute path`);
  let keeper: number;
  try {
    keeper = openSync(uri, constants.O_RDWR | constants.O_NONBLOCK);
  } catch (e) {
    throw new IoError(`cannot open stdin ${uri}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  try {
    return { fd: openSync(uri, constants.O_RDONLY), keeper };
  } catch (e) {
    closeSync(keeper);
    throw new IoError(`cannot open stdin ${uri}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}

export interface StdioPaths {
  stdin: string;
  stdout: string;
  stderr: string;
}

/**
 * fds for a process's stdin, stdout, stderr: the given streams, /dev/null
 * for the ones not given. Closed with closeFds once the process has them.
 */
export interface ProcessStdio {
  /** stdin, stdout, stderr for the process's shim (closed once it has them). */
  fds: [number, number, number];
  /** Our write end of the stdin fifo (see openStdin), closed by CloseIO. */
  stdinKeeper?: number;
}

export async function openProcessStdio(p: StdioPaths, owner?: { containerId: string; namespace: string }): Promise<ProcessStdio> {
  const devNull = (dir: Direction) => openSync("/dev/null", dir === "in" ? constants.O_RDONLY : constants.O_WRONLY);
  if (p.stdin.startsWith("binary://")) throw new UnsupportedError(`stdin cannot be a binary:// URI (${p.stdin})`);
  const stdin = openStdin(p.stdin);
  try {
    if (p.stdout.startsWith("binary://") || p.stderr.startsWith("binary://")) {
      // One logging binary for both streams, as containerd's runc shim starts it.
      if (p.stderr !== "" && p.stdout !== "" && p.stderr !== p.stdout) {
        throw new UnsupportedError(`stdout ${p.stdout} and stderr ${p.stderr}: a binary:// logger must take both`);
      }
      if (!owner) throw new UnsupportedError("binary:// logging needs the container's id and namespace");
      const logger = await startBinaryLogger(p.stdout || p.stderr, owner);
      return { fds: [stdin?.fd ?? devNull("in"), logger.stdout, logger.stderr], ...(stdin ? { stdinKeeper: stdin.keeper } : {}) };
    }
  } catch (e) {
    if (stdin) closeFds([stdin.fd, stdin.keeper]);
    throw e;
  }
  const get = async (uri: string) => (await openStdio(uri, "out")) ?? devNull("out");
  // Both at once: the client may open its ends in any order.
  const results = await Promise.allSettled([get(p.stdout), get(p.stderr)]);
  const outs = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failed = results.find((r) => r.status === "rejected");
  if (failed) {
    closeFds(outs);
    if (stdin) closeFds([stdin.fd, stdin.keeper]);
    throw failed.reason;
  }
  return { fds: [stdin?.fd ?? devNull("in"), outs[0]!, outs[1]!], ...(stdin ? { stdinKeeper: stdin.keeper } : {}) };
}

export function closeFds(fds: readonly number[]): void {
  for (const fd of fds) {
    try {
      closeSync(fd);
    } catch (e) {
      log.debug(`closing fd ${fd}: ${(e as Error).message}`);
    }
  }
}
