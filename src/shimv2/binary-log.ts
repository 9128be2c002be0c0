import { accessSync, closeSync, constants, mkdtempSync, open, read, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { IoError, NotFoundError, TimeoutError, UsageError } from "../host/errors.ts";
import { logger } from "../host/log.ts";
import { withTimeout } from "../host/time.ts";

/**
 * containerd's `binary://` logging (`ctr run --log-uri binary:///path?k=v`,
 * nerdctl's logs): the shim starts the logging binary with the process's
 * stdout and stderr as fds 3 and 4 (read ends) and fd 5, which the binary
 * closes once it is ready; arguments are the URI's query (`k v`), the
 * environment names the container (CONTAINER_ID, CONTAINER_NAMESPACE). The
 * binary sees EOF, and exits, when the process's shim has exited.
 *
 * Node has no pipe(2): each pipe is a fifo in a private 0700 directory whose
 * two ends are opened together (each open waits for the other, on the
 * thread pool), then unlinked — an anonymous pipe in all but its birth.
 */

const log = logger("shimv2");
const READY_TIMEOUT_MS = 10_000;
const MAX_ARGS = 64;

function openAsync(path: string, flags: number): Promise<number> {
  return new Promise((resolve, reject) => open(path, flags, (err, fd) => (err ? reject(err) : resolve(fd))));
}

/** [read end, write end] of a new pipe. */
async function pipe(dir: string, name: string): Promise<[number, number]> {
  const path = join(dir, name);
  const [r, w] = await Promise.all([openAsync(path, constants.O_RDONLY), openAsync(path, constants.O_WRONLY)]);
  return [r, w];
}

/** The binary's path and arguments from the URI. */
export function parseBinaryUri(uri: string): { path: string; args: string[] } {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new UsageError(`log URI ${JSON.stringify(uri)} is not a URI`);
  }
  if (url.protocol !== "binary:") throw new UsageError(`log URI ${uri} is not binary://`);
  if (url.host !== "") throw new UsageError(`log URI ${uri}: the binary must be an absolute path (binary:///path)`);
  const path = decodeURIComponent(url.pathname);
  if (!path.startsWith("/") || path.includes("\0")) throw new UsageError(`log URI ${uri}: the binary must be an absolute path`);
  const args: string[] = [];
  for (const [k, v] of url.searchParams) {
    args.push(k);
    if (v !== "") args.push(v);
  }
  if (args.length > MAX_ARGS) throw new UsageError(`log URI ${uri}: more than ${MAX_ARGS} arguments`);
  return { path, args };
}

export interface BinaryLogger {
  /** Write ends for the process's stdout and stderr (the caller closes them once the process has them). */
  stdout: number;
  stderr: number;
}

export async function startBinaryLogger(uri: string, env: { containerId: string; namespace: string }): Promise<BinaryLogger> {
  const { path, args } = parseBinaryUri(uri);
  try {
    if (!statSync(path).isFile()) throw new Error("not a file");
    accessSync(path, constants.X_OK);
  } catch {
    throw new NotFoundError(`logging binary ${path} (from ${uri}) is not an executable file`, { details: { path } });
  }
  const dir = mkdtempSync(join(tmpdir(), "husk-log-"));
  const opened: number[] = [];
  try {
    await execa("mkfifo", ["-m", "600", join(dir, "out"), join(dir, "err"), join(dir, "ready")]);
    const [outR, outW] = await pipe(dir, "out");
    opened.push(outR, outW);
    const [errR, errW] = await pipe(dir, "err");
    opened.push(errR, errW);
    const [readyR, readyW] = await pipe(dir, "ready");
    opened.push(readyR, readyW);
    rmSync(dir, { recursive: true, force: true });
    log.debug(`starting logging binary ${path} ${args.join(" ")}`);
    const proc = Bun.spawn({
      cmd: [path, ...args],
      stdio: ["ignore", "ignore", "ignore", outR, errR, readyW],
      env: { ...process.env, CONTAINER_ID: env.containerId, CONTAINER_NAMESPACE: env.namespace },
      cwd: "/",
    });
    for (const fd of [outR, errR, readyW]) closeSync(fd);
    opened.splice(0, opened.length, outW, errW, readyR);
    // Ready when the binary closes fd 5 (EOF), or writes to it. The read end is closed once that read settles, whatever happens.
    opened.splice(opened.indexOf(readyR), 1);
    const ready = new Promise<void>((resolve, reject) =>
      read(readyR, Buffer.alloc(1), 0, 1, null, (err) => {
        closeSync(readyR);
        if (err) reject(new IoError(`logging binary ${path}: ${err.message}`));
        else resolve();
      }),
    );
    ready.catch(() => {});
    // A binary that exits has closed fd 5 too: that is EOF, "ready", as containerd's shim takes it.
    try {
      await withTimeout(
        ready,
        READY_TIMEOUT_MS,
        () => new TimeoutError(`logging binary ${path} was not ready within ${READY_TIMEOUT_MS} ms`),
      );
    } catch (e) {
      proc.kill("SIGKILL"); // its exit also ends the pending read (EOF)
      throw e;
    }
    opened.splice(0, opened.length);
    proc.unref();
    return { stdout: outW, stderr: errW };
  } catch (e) {
    for (const fd of opened) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
