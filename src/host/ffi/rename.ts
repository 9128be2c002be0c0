import { dlopen, FFIType, read } from "bun:ffi";

/**
 * renameat2(2) with RENAME_EXCHANGE through bun:ffi: swap two paths in one
 * step (node:fs has no such call). `husk image import` swaps a verified new
 * image directory with the installed one, so the installed path always holds
 * a whole image, the old or the new, never a mix and never nothing.
 */

const AT_FDCWD = -100;
const RENAME_EXCHANGE = 2;
const EINTR = 4;

const libc = dlopen("libc.so.6", {
  renameat2: { args: [FFIType.i32, FFIType.cstring, FFIType.i32, FFIType.cstring, FFIType.u32], returns: FFIType.i32 },
  __errno_location: { args: [], returns: FFIType.ptr },
});

function errno(): number {
  const p = libc.symbols.__errno_location();
  return p === null ? 0 : read.i32(p, 0);
}

const cstr = (s: string) => Buffer.from(`${s}\0`);

/** Atomically exchange `a` and `b` (both must exist, on one filesystem). Throws an Error carrying errno. */
export function exchangePaths(a: string, b: string): void {
  for (;;) {
    if (libc.symbols.renameat2(AT_FDCWD, cstr(a), AT_FDCWD, cstr(b), RENAME_EXCHANGE) === 0) return;
    const err = errno();
    if (err === EINTR) continue;
    throw Object.assign(new Error(`renameat2(${a}, ${b}, RENAME_EXCHANGE) failed: errno ${err}`), { errno: err });
  }
}
