/**
 * One kernel build at a time per cache directory: two builds sharing the
 * make O= directory would corrupt each other. An flock on <cacheDir>/lock
 * (released by the kernel if we die); the waiter says who it waits for.
 */
import { closeSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { flock, LOCK_EX, LOCK_NB, LOCK_UN } from "../host/ffi/flock.ts";

export async function withCacheLock<T>(cacheDir: string, onWait: () => void, fn: () => Promise<T>): Promise<T> {
  mkdirSync(cacheDir, { recursive: true });
  const fd = openSync(join(cacheDir, "lock"), "a");
  try {
    if (flock(fd, LOCK_EX | LOCK_NB) === "busy") {
      onWait();
      while (flock(fd, LOCK_EX | LOCK_NB) === "busy") await Bun.sleep(1000);
    }
    return await fn();
  } finally {
    try {
      flock(fd, LOCK_UN);
    } finally {
      closeSync(fd);
    }
  }
}
