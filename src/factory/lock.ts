import { closeSync, fstatSync, openSync, rmSync, statSync } from "node:fs";
import { flock, LOCK_EX, LOCK_NB, LOCK_UN } from "../host/ffi/flock.ts";

/** One builder per template: an flock on <key>.lock, released when the builder ends (however it ends). */

export interface HeldLock {
  release(): void;
}

/**
 * Take the lock without waiting; undefined when another process holds it.
 * Lock files of templates that are gone get removed (sweepLockFiles), so
 * the file locked must still be the one at the path: otherwise try again.
 */
export function tryLock(path: string): HeldLock | undefined {
  for (;;) {
    const fd = openSync(path, "a", 0o600);
    if (flock(fd, LOCK_EX | LOCK_NB) === "busy") {
      closeSync(fd);
      return undefined;
    }
    if (sameFile(fd, path)) return held(fd);
    flock(fd, LOCK_UN);
    closeSync(fd);
  }
}

function sameFile(fd: number, path: string): boolean {
  try {
    return fstatSync(fd).ino === statSync(path).ino;
  } catch {
    return false;
  }
}

/**
 * Remove a lock file nobody holds. Taken first, so a process that opened the
 * old file meanwhile finds it unlinked (tryLock's check) and starts over.
 */
export function removeLockFile(path: string): boolean {
  const lock = tryLock(path);
  if (!lock) return false;
  try {
    rmSync(path, { force: true });
  } finally {
    lock.release();
  }
  return true;
}

function held(fd: number): HeldLock {
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      flock(fd, LOCK_UN);
      closeSync(fd);
    },
  };
}

/** Wait for the lock (another builder finishing); polls so a deadline holds. */
export async function lockWithin(path: string, timeoutMs: number): Promise<HeldLock | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lock = tryLock(path);
    if (lock || Date.now() > deadline) return lock;
    await Bun.sleep(100);
  }
}

export function isLockHeld(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return false;
  }
  try {
    if (flock(fd, LOCK_EX | LOCK_NB) === "busy") return true;
    flock(fd, LOCK_UN);
    return false;
  } finally {
    closeSync(fd);
  }
}
