import { IoError } from "../host/errors.ts";
import { SyscallError } from "../host/ffi/libc.ts";
import { sendFd } from "../host/ffi/scm.ts";

/** runc's --console-socket protocol: connect, send the pty master with SCM_RIGHTS, close. */
export async function sendConsoleMaster(socketPath: string, master: number): Promise<void> {
  try {
    sendFd(socketPath, master, "/dev/ptmx");
  } catch (e) {
    const why = e instanceof SyscallError ? e.message : String(e);
    throw new IoError(`cannot send the terminal to console socket ${socketPath}: ${why}`, { cause: e, details: { path: socketPath } });
  }
}
