import { ptr } from "bun:ffi";
import { check, EINTR, errno, libc, SyscallError } from "./libc.ts";

/**
 * Process and fd syscalls with no JS API, through bun:ffi: child subreaper,
 * reaping one pid without stealing other children, pipes with fd numbers we
 * control (to hand to crun), tty window size, power-off.
 */

const PR_SET_CHILD_SUBREAPER = 36;
const WNOHANG = 1;
const O_CLOEXEC = 0x80000;
const O_NONBLOCK = 0x800;
const O_RDWR = 2;
const O_NOCTTY = 0x100;
const F_GETFL = 3;
const F_SETFL = 4;
const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
const TIOCSWINSZ = 0x5414;
const ECHILD = 10;
const LINUX_REBOOT_CMD_RESTART = 0x01234567;

/** Orphaned descendants (a container's init after `crun create` exits) are re-parented to us. */
/** Become (or, with false, stop being) the reaper of orphaned descendants. */
export function setChildSubreaper(on = true): void {
  check("prctl(PR_SET_CHILD_SUBREAPER)", libc().prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0));
}

export type WaitResult = { pid: number; exitCode: number; signal?: number };

/**
 * waitpid(pid, WNOHANG) for one specific pid, so Bun's own children are never
 * reaped behind its back. null = still running; throws SyscallError(ECHILD)
 * when pid is not our child.
 */
export function reapPid(pid: number): WaitResult | null {
  const status = new Int32Array(1);
  for (;;) {
    const rc = libc().waitpid(pid, ptr(status), WNOHANG);
    if (rc === 0) return null;
    if (rc < 0) {
      const e = errno();
      if (e === EINTR) continue;
      throw new SyscallError("waitpid", e);
    }
    return decodeWaitStatus(rc, status[0]!);
  }
}

export function isNotChild(e: unknown): boolean {
  return e instanceof SyscallError && e.errno === ECHILD;
}

/** Exit code as a shell reports it: the code, or 128+signal. */
export function decodeWaitStatus(pid: number, status: number): WaitResult {
  const sig = status & 0x7f;
  if (sig === 0) return { pid, exitCode: (status >> 8) & 0xff };
  return { pid, exitCode: 128 + sig, signal: sig };
}

export function killPid(pid: number, signal: number): void {
  check("kill", libc().kill(pid, signal));
}

/** A pipe whose two fds are close-on-exec: pass one to a child explicitly. */
export function makePipe(): { read: number; write: number } {
  const fds = new Int32Array(2);
  check("pipe2", libc().pipe2(ptr(fds), O_CLOEXEC));
  return { read: fds[0]!, write: fds[1]! };
}

export function closeFd(fd: number): void {
  libc().close(fd);
}

export function setNonBlocking(fd: number, on: boolean): void {
  const flags = check("fcntl(F_GETFL)", libc().fcntl(fd, F_GETFL, 0));
  check("fcntl(F_SETFL)", libc().fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK));
}

export function setCloexec(fd: number, on: boolean): void {
  const flags = check("fcntl(F_GETFD)", libc().fcntl(fd, F_GETFD, 0));
  check("fcntl(F_SETFD)", libc().fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC));
}

/** TIOCSWINSZ on a pty master (or slave). */
export function setWindowSize(fd: number, rows: number, cols: number): void {
  const ws = new Uint16Array([rows, cols, 0, 0]);
  check("ioctl(TIOCSWINSZ)", libc().ioctl(fd, TIOCSWINSZ, ptr(ws)));
}

/** A new pty: the master fd (close-on-exec) and the slave's path. */
export function openPty(): { master: number; slavePath: string } {
  const master = check("posix_openpt", libc().posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  try {
    check("grantpt", libc().grantpt(master));
    check("unlockpt", libc().unlockpt(master));
    const buf = new Uint8Array(128);
    const rc = libc().ptsname_r(master, ptr(buf), buf.length);
    if (rc !== 0) throw new SyscallError("ptsname_r", rc);
    const end = buf.indexOf(0);
    return { master, slavePath: new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end)) };
  } catch (e) {
    libc().close(master);
    throw e;
  }
}

export function getPid(): number {
  return libc().getpid();
}

/**
 * sync(2) then reboot(RESTART): husk's QEMU runs with -no-reboot, so a guest
 * restart makes QEMU exit. POWER_OFF would only halt the CPU on microvm with
 * acpi=off (no ACPI to power off through), leaving QEMU running.
 * Only returns if the kernel refused.
 */
export function powerOff(): void {
  libc().sync();
  check("reboot(RESTART)", libc().reboot(LINUX_REBOOT_CMD_RESTART));
}

const RNDADDENTROPY = 0x40085203; // _IOW('R', 0x03, int[2])
const RNDRESEEDCRNG = 0x5207; // _IO('R', 0x07)
const CLOCK_REALTIME = 0;

/**
 * Guest side of a VM clone (src/factory/): every clone of a template starts
 * with the template's kernel RNG state, so mix fresh host entropy in
 * (credited) and force the CRNG to reseed from it at once.
 */
export function reseedKernelRng(entropy: Uint8Array): void {
  const fd = check("open(/dev/urandom)", libc().open(Buffer.from("/dev/urandom\0"), O_RDWR | O_CLOEXEC));
  try {
    // struct rand_pool_info { int entropy_count; int buf_size; __u32 buf[]; }
    const info = new Uint8Array(8 + entropy.length);
    const view = new DataView(info.buffer);
    view.setInt32(0, entropy.length * 8, true);
    view.setInt32(4, entropy.length, true);
    info.set(entropy, 8);
    check("ioctl(RNDADDENTROPY)", libc().ioctl(fd, RNDADDENTROPY, ptr(info)));
    check("ioctl(RNDRESEEDCRNG)", libc().ioctl(fd, RNDRESEEDCRNG, null));
  } finally {
    libc().close(fd);
  }
}

/** sync(2). */
export function syncFilesystems(): void {
  libc().sync();
}

/** clock_settime(CLOCK_REALTIME) to the given Unix time in milliseconds. */
export function setRealtimeClock(unixMs: number): void {
  const ts = new BigInt64Array([BigInt(Math.floor(unixMs / 1000)), BigInt(Math.floor(unixMs % 1000) * 1_000_000)]);
  check("clock_settime(CLOCK_REALTIME)", libc().clock_settime(CLOCK_REALTIME, ptr(ts)));
}

export function setHostname(name: string): void {
  const bytes = Buffer.from(name);
  check("sethostname", libc().sethostname(ptr(bytes), bytes.length));
}

/** mount(2): no fork and exec of mount(8), which costs a clone's start-up ~0.1 s under TCG. */
export function mountFs(source: string, target: string, fstype: string, data: string, flags = 0): void {
  const z = (t: string) => Buffer.from(`${t}\0`);
  check(`mount(${fstype} on ${target})`, libc().mount(z(source), z(target), z(fstype), flags, z(data)));
}

/** umount2(2), not lazy: fails (EBUSY) while anything is mounted beneath or in use. */
export function unmountFs(target: string, flags = 0): void {
  check(`umount(${target})`, libc().umount2(Buffer.from(`${target}\0`), flags));
}
