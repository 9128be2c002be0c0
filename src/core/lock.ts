import { closeSync, constants, fstatSync, mkdirSync, openSync, rmSync, statSync } from "node:fs";
import { AlreadyExistsError, LockedError, NotFoundError, asHuskError } from "../host/errors.ts";
import { flock, LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN } from "../host/ffi/flock.ts";
import { logger } from "../host/log.ts";
import { DIR_MODE, FILE_MODE, sandboxDir, sandboxesDir, sandboxLockFile } from "../host/layout.ts";

/**
 * Per-sandbox flock on <sandboxDir>/lock: shared for reads (status, ps,
 * exec, stats), exclusive for changes. Waiting polls with LOCK_NB so the
 * event loop keeps running; the kernel releases the lock if we die.
 */

const log = logger("lock");

export type LockMode = "shared" | "exclusive";

export interface LockOptions {
  /** Give up with E_LOCKED after this long; default: wait forever. */
  timeoutMs?: number;
}

async function acquire(fd: number, mode: LockMode, what: string, options: LockOptions): Promise<void> {
  const op = (mode === "shared" ? LOCK_SH : LOCK_EX) | LOCK_NB;
  const deadline = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutMs;
  let delay = 2;
  for (;;) {
    if (flock(fd, op) === "ok") return;
    if (Date.now() >= deadline) {
      throw new LockedError(`${what} is locked by another process (gave up after ${options.timeoutMs} ms)`, {
        details: { mode },
      });
    }
    await Bun.sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
    delay = Math.min(delay * 2, 50);
  }
}

function release(fd: number): void {
  try {
    flock(fd, LOCK_UN);
  } finally {
    closeSync(fd);
  }
}

/**
 * Run fn holding the sandbox's lock. E_NOT_FOUND when the sandbox does not
 * exist (or was deleted while we waited). The lock is released on every path.
 */
export async function withSandboxLock<T>(
  root: string,
  sid: string,
  mode: LockMode,
  fn: () => Promise<T> | T,
  options: LockOptions = {},
): Promise<T> {
  const path = sandboxLockFile(root, sid);
  for (;;) {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT")
        throw new NotFoundError(`sandbox ${sid} not found`, { details: { sandboxId: sid } });
      throw asHuskError(e, "E_IO", `cannot open lock ${path}`);
    }
    try {
      await acquire(fd, mode, `sandbox ${sid}`, options);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    // The sandbox may have been deleted (or deleted and re-created) while we waited.
    const held = fstatSync(fd);
    let current: ReturnType<typeof statSync> | undefined;
    try {
      current = statSync(path);
    } catch {
      current = undefined;
    }
    if (held.nlink === 0 || current === undefined) {
      release(fd);
      throw new NotFoundError(`sandbox ${sid} not found`, { details: { sandboxId: sid } });
    }
    if (current.ino !== held.ino) {
      release(fd);
      continue;
    }
    log.debug(`locked sandbox ${sid} (${mode})`);
    try {
      return await fn();
    } finally {
      release(fd);
      log.debug(`unlocked sandbox ${sid}`);
    }
  }
}

/**
 * Create the sandbox directory and its lock file and run fn holding the lock
 * exclusively. E_ALREADY_EXISTS if the directory exists. fn owns cleanup of
 * the directory on failure (the undo stack removes it).
 */
export async function withNewSandboxLock<T>(root: string, sid: string, fn: () => Promise<T> | T): Promise<T> {
  const dir = sandboxDir(root, sid);
  try {
    mkdirSync(sandboxesDir(root), { recursive: true, mode: DIR_MODE });
    mkdirSync(dir, { mode: DIR_MODE });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") {
      throw new AlreadyExistsError(`sandbox ${sid} already exists`, { details: { sandboxId: sid } });
    }
    throw asHuskError(e, "E_IO", `cannot create sandbox directory ${dir}`);
  }
  let fd: number;
  try {
    fd = openSync(sandboxLockFile(root, sid), constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, FILE_MODE);
    await acquire(fd, "exclusive", `sandbox ${sid}`, {});
  } catch (e) {
    rmSync(dir, { recursive: true, force: true }); // only the lock file is in it yet
    throw asHuskError(e, "E_IO", `cannot create lock for sandbox ${sid}`);
  }
  try {
    return await fn();
  } finally {
    release(fd);
  }
}
