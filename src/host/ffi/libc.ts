import { dlopen, FFIType, read } from "bun:ffi";

/**
 * The one libc binding for the syscalls node has no API for (flock, ptys,
 * SCM_RIGHTS, renameat2, subreaper, mount...). Opened on first use, so a
 * process that never needs FFI never loads it; one error type, SyscallError.
 */

const SYMBOLS = {
  __errno_location: { args: [], returns: FFIType.ptr },
  // files and fds
  open: { args: [FFIType.cstring, FFIType.i32], returns: FFIType.i32 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
  pipe2: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  fcntl: { args: [FFIType.i32, FFIType.i32, FFIType.i64], returns: FFIType.i32 },
  ioctl: { args: [FFIType.i32, FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
  flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  renameat2: { args: [FFIType.i32, FFIType.cstring, FFIType.i32, FFIType.cstring, FFIType.u32], returns: FFIType.i32 },
  // processes
  prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
  waitpid: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  kill: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  getpid: { args: [], returns: FFIType.i32 },
  setsid: { args: [], returns: FFIType.i32 },
  // terminals
  posix_openpt: { args: [FFIType.i32], returns: FFIType.i32 },
  grantpt: { args: [FFIType.i32], returns: FFIType.i32 },
  unlockpt: { args: [FFIType.i32], returns: FFIType.i32 },
  ptsname_r: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
  openpty: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  tcgetattr: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  tcsetattr: { args: [FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  cfmakeraw: { args: [FFIType.ptr], returns: FFIType.void },
  // unix sockets
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  listen: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  accept4: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  connect: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  sendmsg: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i64 },
  recvmsg: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i64 },
  // the guest (agent as init)
  sync: { args: [], returns: FFIType.void },
  reboot: { args: [FFIType.i32], returns: FFIType.i32 },
  clock_settime: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  sethostname: { args: [FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
  mount: { args: [FFIType.cstring, FFIType.cstring, FFIType.cstring, FFIType.u64, FFIType.cstring], returns: FFIType.i32 },
  umount2: { args: [FFIType.cstring, FFIType.i32], returns: FFIType.i32 },
} as const;

let opened: ReturnType<typeof dlopen<typeof SYMBOLS>> | undefined;

/** libc's functions, opened on the first call. */
export function libc(): ReturnType<typeof dlopen<typeof SYMBOLS>>["symbols"] {
  opened ??= dlopen("libc.so.6", SYMBOLS);
  return opened.symbols;
}

export const EINTR = 4;
export const EAGAIN = 11;

export function errno(): number {
  const p = libc().__errno_location();
  return p === null ? 0 : read.i32(p, 0);
}

/** A failed libc call: `<syscall> failed: errno N`, or `<syscall> <context>: errno N` when context says more. */
export class SyscallError extends Error {
  constructor(
    readonly syscall: string,
    readonly errno: number,
    context?: string,
  ) {
    super(context === undefined ? `${syscall} failed: errno ${errno}` : `${syscall} ${context}: errno ${errno}`);
    this.name = "SyscallError";
  }
}

/** rc, or SyscallError with the current errno when rc < 0. */
export function check(name: string, rc: number): number {
  if (rc < 0) throw new SyscallError(name, errno());
  return rc;
}
