import { EINTR, libc, errno, SyscallError } from "./libc.ts";

/**
 * flock(2) through bun:ffi: node:fs has no advisory locks. The kernel drops a
 * flock when the last fd of the open file description closes, so a process
 * that dies holding a lock never wedges anyone.
 */

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

const EWOULDBLOCK = 11;

export type FlockResult = "ok" | "busy";

/**
 * One flock call. Returns "busy" when LOCK_NB was given and the lock is held
 * elsewhere; throws SyscallError for anything else.
 */
export function flock(fd: number, operation: number): FlockResult {
  for (;;) {
    if (libc().flock(fd, operation) === 0) return "ok";
    const err = errno();
    if (err === EINTR) continue;
    if (err === EWOULDBLOCK && (operation & LOCK_NB) !== 0) return "busy";
    throw new SyscallError(`flock(fd ${fd}, ${operation})`, err);
  }
}
