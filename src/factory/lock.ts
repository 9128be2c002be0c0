import { closeSync, openSync } from "node:fs";
import { flock, LOCK_EX, LOCK_NB, LOCK_UN } from "../host/ffi/flock.ts";

/** One builder per template: an flock on <key>.lock, released when the builder ends (however it ends). */

export interface HeldLock {
  release(): void;
}

/** Take the lock without waiting; undefined when another process holds it. */
export function tryLock(path: string): HeldLock | undefined {
  const fd = openSync(path, "a", 0o600);
  if (flock(fd, LOCK_EX | LOCK_NB) === "busy") {
    closeSync(fd);
    return undefined;
  }
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
