import { closeSync } from "node:fs";
import { isatty } from "node:tty";
import { getWinsize, makeRaw, openpty, setControllingTerminal, type WinSize } from "../host/ffi/pty.ts";
import { logger } from "../host/log.ts";
import { sendConsoleMaster } from "./console-socket.ts";

/**
 * The host side of a process's stdio, as the shim's caller arranged it:
 *  - plain: the inherited fds 0/1/2 (containerd's fifos, conmon's pipes);
 *  - terminal with --console-socket: a new pty whose master goes to the
 *    socket (runc's protocol), the shim keeping the slave as its own
 *    controlling terminal so the kernel tells it about resizes (SIGWINCH);
 *  - terminal without one (run -t / exec -t at a shell): the inherited
 *    terminal, in raw mode while the process runs (the guest's pty does the
 *    line discipline).
 */

const log = logger("shim");

export interface HostIo {
  input: number;
  output: number;
  /** Absent with a terminal: the pty merges stderr into stdout. */
  error?: number;
  /** Terminal whose size the guest's tty follows. */
  sizeFd?: number;
  size?: WinSize;
  restore(): void;
}

export async function setupHostIo(terminal: boolean, consoleSocket: string | undefined, initial?: WinSize): Promise<HostIo> {
  if (!terminal) return { input: 0, output: 1, error: 2, restore() {} };
  if (consoleSocket) {
    const pty = openpty(initial ?? { rows: 24, cols: 80 });
    try {
      await sendConsoleMaster(consoleSocket, pty.master);
    } catch (e) {
      closeSync(pty.master);
      closeSync(pty.slave);
      throw e;
    }
    closeSync(pty.master); // the receiver has its own copy now
    try {
      setControllingTerminal(pty.slave);
    } catch (e) {
      log.debug("cannot take the pty as controlling terminal; resizes will not be seen", e);
    }
    const restoreMode = makeRaw(pty.slave);
    return {
      input: pty.slave,
      output: pty.slave,
      sizeFd: pty.slave,
      size: getWinsize(pty.slave),
      restore() {
        restoreMode();
      },
    };
  }
  const sizeFd = isatty(0) ? 0 : isatty(1) ? 1 : undefined;
  const restoreMode = isatty(0) ? makeRaw(0) : () => {};
  const size = sizeFd !== undefined ? getWinsize(sizeFd) : initial;
  return { input: 0, output: 1, ...(sizeFd !== undefined ? { sizeFd } : {}), ...(size ? { size } : {}), restore: restoreMode };
}
