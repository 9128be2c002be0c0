import { EINTR, errno, libc, SyscallError } from "./libc.ts";

/**
 * renameat2(2) with RENAME_EXCHANGE through bun:ffi: swap two paths in one
 * step (node:fs has no such call). `husk image import` swaps a verified new
 * image directory with the installed one, so the installed path always holds
 * a whole image, the old or the new, never a mix and never nothing.
 */

const AT_FDCWD = -100;
const RENAME_EXCHANGE = 2;

const cstr = (s: string) => Buffer.from(`${s}\0`);

/** Atomically exchange `a` and `b` (both must exist, on one filesystem). Throws SyscallError. */
export function exchangePaths(a: string, b: string): void {
  for (;;) {
    if (libc().renameat2(AT_FDCWD, cstr(a), AT_FDCWD, cstr(b), RENAME_EXCHANGE) === 0) return;
    const err = errno();
    if (err === EINTR) continue;
    throw new SyscallError(`renameat2(${a}, ${b}, RENAME_EXCHANGE)`, err);
  }
}
