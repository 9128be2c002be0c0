import { ptr } from "bun:ffi";
import { errno, libc, SyscallError } from "./libc.ts";

/**
 * Terminals through bun:ffi, where node has no API: openpty(3), window size
 * ioctls, raw mode (cfmakeraw) and taking a controlling terminal. Linux
 * x86_64/aarch64 glibc (openpty lives in libc since glibc 2.34).
 */

const TIOCGWINSZ = 0x5413;
const TIOCSWINSZ = 0x5414;
const TIOCSCTTY = 0x540e;
const TCSANOW = 0;
/** sizeof(struct termios) on glibc is 60; keep slack. */
const TERMIOS_SIZE = 64;

function fail(what: string): never {
  throw new SyscallError(what, errno());
}

export interface Pty {
  master: number;
  slave: number;
}

export interface WinSize {
  rows: number;
  cols: number;
}

/** A new pseudo-terminal pair, optionally with an initial size. */
export function openpty(size?: WinSize): Pty {
  const master = new Int32Array(1);
  const slave = new Int32Array(1);
  const ws = size ? winsizeBuffer(size) : null;
  if (libc().openpty(ptr(master), ptr(slave), null, null, ws ? ptr(ws) : null) !== 0) fail("openpty");
  return { master: master[0]!, slave: slave[0]! };
}

function winsizeBuffer(size: WinSize): Uint16Array {
  // struct winsize { unsigned short ws_row, ws_col, ws_xpixel, ws_ypixel; }
  return new Uint16Array([size.rows, size.cols, 0, 0]);
}

export function getWinsize(fd: number): WinSize | undefined {
  const ws = new Uint16Array(4);
  if (libc().ioctl(fd, TIOCGWINSZ, ptr(ws)) !== 0) return undefined;
  return { rows: ws[0]!, cols: ws[1]! };
}

export function setWinsize(fd: number, size: WinSize): void {
  if (libc().ioctl(fd, TIOCSWINSZ, ptr(winsizeBuffer(size))) !== 0) fail("ioctl(TIOCSWINSZ)");
}

/** Put a terminal in raw mode; returns a function restoring the previous mode. */
export function makeRaw(fd: number): () => void {
  const saved = new Uint8Array(TERMIOS_SIZE);
  if (libc().tcgetattr(fd, ptr(saved)) !== 0) fail("tcgetattr");
  const raw = saved.slice();
  libc().cfmakeraw(ptr(raw));
  if (libc().tcsetattr(fd, TCSANOW, ptr(raw)) !== 0) fail("tcsetattr");
  return () => {
    libc().tcsetattr(fd, TCSANOW, ptr(saved));
  };
}

/**
 * Make fd this process's controlling terminal (the caller must be a session
 * leader without one): the kernel then sends SIGWINCH here when the other
 * end resizes the terminal.
 */
export function setControllingTerminal(fd: number): void {
  if (libc().ioctl(fd, TIOCSCTTY, null) !== 0) fail("ioctl(TIOCSCTTY)");
}

/** setsid(2); returns the new session id, or -1 when already a group leader. */
export function setsid(): number {
  return libc().setsid();
}
