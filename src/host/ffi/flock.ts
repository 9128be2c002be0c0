import { dlopen, FFIType, read } from "bun:ffi";

/**
 * flock(2) through bun:ffi: node:fs has no advisory locks. The kernel drops a
 * flock when the last fd of the open file description closes, so a process
 * that dies holding a lock never wedges anyone.
 */

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

const EINTR = 4;
const EWOULDBLOCK = 11;

const libc = dlopen("libc.so.6", {
  flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  __errno_location: { args: [], returns: FFIType.ptr },
});

function errno(): number {
  const p = libc.symbols.__errno_location();
  return p === null ? 0 : read.i32(p, 0);
}

export type FlockResult = "ok" | "busy";

/**
 * One flock call. Returns "busy" when LOCK_NB was given and the lock is held
 * elsewhere; throws an Error carrying errno for anything else.
 */
export function flock(fd: number, operation: number): FlockResult {
  for (;;) {
    if (libc.symbols.flock(fd, operation) === 0) return "ok";
    const err = errno();
    if (err === EINTR) continue;
    if (err === EWOULDBLOCK && (operation & LOCK_NB) !== 0) return "busy";
    throw Object.assign(new Error(`flock(fd ${fd}, ${operation}) failed: errno ${err}`), { errno: err });
  }
}
