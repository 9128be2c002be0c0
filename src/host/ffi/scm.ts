import { ptr } from "bun:ffi";
import { EAGAIN, EINTR, errno, libc, SyscallError } from "./libc.ts";

/**
 * Passing file descriptors over unix sockets (SCM_RIGHTS), which node:net
 * cannot do: the guest agent receives the pty master from crun's
 * --console-socket; the host shim sends one to a runc caller's
 * --console-socket. Sockets made here are plain fds (non-blocking where
 * noted), polled by the caller; nothing here blocks the event loop for long.
 */

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0x800;
const SOCK_CLOEXEC = 0x80000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_CMSG_CLOEXEC = 0x40000000;
const MSG_NOSIGNAL = 0x4000;

function sockaddr(path: string): Uint8Array {
  const bytes = new TextEncoder().encode(path);
  if (bytes.length >= 108) throw new SyscallError("sockaddr", 36 /* ENAMETOOLONG */, `socket path too long: ${path}`);
  const addr = new Uint8Array(110);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(bytes, 2);
  return addr;
}

/** A listening unix socket (non-blocking, close-on-exec). */
export function listenUnix(path: string): number {
  const fd = libc().socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SyscallError("socket", errno(), path);
  const addr = sockaddr(path);
  if (libc().bind(fd, ptr(addr), addr.length) < 0 || libc().listen(fd, 16) < 0) {
    const e = errno();
    libc().close(fd);
    throw new SyscallError("bind/listen", e, path);
  }
  return fd;
}

/** Accept one connection (non-blocking fd); null when nobody is waiting. */
export function acceptUnix(listenFd: number): number | null {
  for (;;) {
    const fd = libc().accept4(listenFd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return fd;
    const e = errno();
    if (e === EINTR) continue;
    if (e === EAGAIN) return null;
    throw new SyscallError("accept4", e, `fd ${listenFd}`);
  }
}

/** Connect a blocking unix stream socket. */
export function connectUnixFd(path: string): number {
  const fd = libc().socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SyscallError("socket", errno(), path);
  const addr = sockaddr(path);
  if (libc().connect(fd, ptr(addr), addr.length) < 0) {
    const e = errno();
    libc().close(fd);
    throw new SyscallError("connect", e, path);
  }
  return fd;
}

// struct msghdr (x86_64): name@0 namelen@8 iov@16 iovlen@24 control@32 controllen@40 flags@48; 56 bytes.
// struct cmsghdr: len@0 (size_t) level@8 type@12 data@16; CMSG_SPACE(4) = 24.
const CMSG_SPACE_1FD = 24;
const CMSG_LEN_1FD = 20;

function msghdr(iov: Uint8Array, control: Uint8Array): Uint8Array {
  const hdr = new Uint8Array(56);
  const dv = new DataView(hdr.buffer);
  dv.setBigUint64(16, BigInt(ptr(iov)), true);
  dv.setBigUint64(24, 1n, true);
  dv.setBigUint64(32, BigInt(ptr(control)), true);
  dv.setBigUint64(40, BigInt(control.length), true);
  return hdr;
}

function iovec(buf: Uint8Array): Uint8Array {
  const iov = new Uint8Array(16);
  const dv = new DataView(iov.buffer);
  dv.setBigUint64(0, BigInt(ptr(buf)), true);
  dv.setBigUint64(8, BigInt(buf.length), true);
  return iov;
}

/** Send fd (with a short payload, e.g. the pty name runc callers expect) over a connected socket fd. */
export function sendFdOn(sockFd: number, fd: number, payload = "pty"): void {
  const data = new TextEncoder().encode(payload.length ? payload : " ");
  const iov = iovec(data);
  const control = new Uint8Array(CMSG_SPACE_1FD);
  const cdv = new DataView(control.buffer);
  cdv.setBigUint64(0, BigInt(CMSG_LEN_1FD), true);
  cdv.setInt32(8, SOL_SOCKET, true);
  cdv.setInt32(12, SCM_RIGHTS, true);
  cdv.setInt32(16, fd, true);
  const hdr = msghdr(iov, control);
  for (;;) {
    const n = Number(libc().sendmsg(sockFd, ptr(hdr), MSG_NOSIGNAL));
    if (n >= 0) return;
    const e = errno();
    if (e !== EINTR) throw new SyscallError("sendmsg", e, `fd ${fd}`);
  }
}

/** Send text (all of it) over a connected socket fd, without a file descriptor. */
export function sendText(sockFd: number, text: string): void {
  let data = new TextEncoder().encode(text);
  while (data.length) {
    const hdr = new Uint8Array(56);
    const iov = iovec(data);
    new DataView(hdr.buffer).setBigUint64(16, BigInt(ptr(iov)), true);
    new DataView(hdr.buffer).setBigUint64(24, 1n, true);
    const n = Number(libc().sendmsg(sockFd, ptr(hdr), MSG_NOSIGNAL));
    if (n >= 0) {
      data = data.subarray(n);
      continue;
    }
    const e = errno();
    if (e !== EINTR && e !== EAGAIN) throw new SyscallError("sendmsg", e, `fd ${sockFd}`);
  }
}

/** Connect to socketPath (e.g. runc's --console-socket) and send fd over it. */
export function sendFd(socketPath: string, fd: number, payload = "pty"): void {
  const s = connectUnixFd(socketPath);
  try {
    sendFdOn(s, fd, payload);
  } finally {
    libc().close(s);
  }
}

export interface ReceivedFd {
  fd: number;
  payload: string;
}

/**
 * Receive one fd from a connected socket fd. null = nothing yet (EAGAIN on a
 * non-blocking socket). Throws when the peer closed without sending one.
 * The received fd is close-on-exec.
 */
export function recvFd(sockFd: number): ReceivedFd | null {
  const data = new Uint8Array(4096);
  const iov = iovec(data);
  const control = new Uint8Array(CMSG_SPACE_1FD * 4);
  const hdr = msghdr(iov, control);
  let n: number;
  for (;;) {
    n = Number(libc().recvmsg(sockFd, ptr(hdr), MSG_CMSG_CLOEXEC));
    if (n >= 0) break;
    const e = errno();
    if (e === EINTR) continue;
    if (e === EAGAIN) return null;
    throw new SyscallError("recvmsg", e, `fd ${sockFd}`);
  }
  const hdv = new DataView(hdr.buffer);
  const controllen = Number(hdv.getBigUint64(40, true));
  const cdv = new DataView(control.buffer);
  let fd = -1;
  // Walk the control messages; keep the first fd, close any others (never leak).
  for (let off = 0; off + 16 <= controllen; ) {
    const len = Number(cdv.getBigUint64(off, true));
    if (len < 16) break;
    const level = cdv.getInt32(off + 8, true);
    const type = cdv.getInt32(off + 12, true);
    if (level === SOL_SOCKET && type === SCM_RIGHTS) {
      for (let p = off + 16; p + 4 <= off + len; p += 4) {
        const got = cdv.getInt32(p, true);
        if (fd < 0) fd = got;
        else libc().close(got);
      }
    }
    off += (len + 7) & ~7;
  }
  if (fd < 0) {
    if (n === 0) throw new SyscallError("recvmsg", 0, "peer closed without sending a file descriptor");
    throw new SyscallError("recvmsg", 0, "message carried no file descriptor");
  }
  return { fd, payload: new TextDecoder().decode(data.subarray(0, n)).replace(/\0+$/, "") };
}

/**
 * Read what is there (at most max bytes) from a socket fd: null on EAGAIN
 * (non-blocking socket, nothing yet), an empty array at end of stream.
 */
export function recvBytes(sockFd: number, max = 65536): Uint8Array | null {
  const data = new Uint8Array(max);
  const hdr = msghdr(iovec(data), new Uint8Array(CMSG_SPACE_1FD));
  for (;;) {
    const n = Number(libc().recvmsg(sockFd, ptr(hdr), MSG_CMSG_CLOEXEC));
    if (n >= 0) return data.subarray(0, n);
    const e = errno();
    if (e === EINTR) continue;
    if (e === EAGAIN) return null;
    throw new SyscallError("recvmsg", e, `fd ${sockFd}`);
  }
}

export function closeSocket(fd: number): void {
  libc().close(fd);
}
