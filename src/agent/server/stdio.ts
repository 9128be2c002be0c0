import { openSync, rmSync } from "node:fs";
import { AgentError } from "../../host/errors.ts";
import { closeFd, makePipe, setWindowSize } from "../../host/ffi/process.ts";
import { acceptUnix, closeSocket, listenUnix, recvFd } from "../../host/ffi/scm.ts";
import type { Stdio } from "../protocol.ts";
import type { Channel } from "../wire/channel.ts";
import { FdWriter, pumpFdToStream, pumpStreamToFd } from "./pump.ts";
import type { RuntimeIo } from "./runtime.ts";

let devNull: number | undefined;
function nullFd(): number {
  devNull ??= openSync("/dev/null", "r+");
  return devNull;
}

/**
 * The guest end of one process's stdio: pipes (or /dev/null) handed to the
 * runtime, or a console socket on which crun sends the pty master; pumps
 * between those fds and the channel's data streams.
 */
export class ProcessStdio {
  readonly io: RuntimeIo;
  private childFds: number[] = [];
  private stdin: FdWriter | undefined;
  private master: number | undefined;
  private listenFd: number | undefined;
  private pumps: Promise<void>[] = [];
  private outputPumps: Promise<void>[] = [];

  private constructor(
    private readonly channel: Channel | undefined,
    private readonly stdio: Stdio,
    private readonly consoleSocket: string,
  ) {
    if (stdio.terminal) {
      rmSync(consoleSocket, { force: true });
      this.listenFd = listenUnix(consoleSocket);
      this.io = { kind: "terminal", consoleSocket };
      return;
    }
    try {
      this.io = { kind: "fds", stdin: this.setupStdin(), stdout: this.setupOutput(stdio.stdout), stderr: this.setupOutput(stdio.stderr) };
    } catch (e) {
      // e.g. a stream id the peer may not use: close what was made (the pumps then end at EOF)
      this.abort();
      throw e;
    }
  }

  /** Attach the streams named in `stdio` on `channel` and make the fds/console socket. */
  static prepare(channel: Channel | undefined, stdio: Stdio, consoleSocket: string): ProcessStdio {
    return new ProcessStdio(channel, stdio, consoleSocket);
  }

  get hasStdin(): boolean {
    return this.stdin !== undefined;
  }

  private setupStdin(): number {
    if (this.stdio.stdin === undefined) return nullFd();
    const p = makePipe();
    this.childFds.push(p.read);
    this.stdin = new FdWriter(p.write);
    const s = this.channel?.attachStream(this.stdio.stdin, { read: true, write: false });
    if (s?.readable) this.pumps.push(pumpStreamToFd(s.readable, this.stdin));
    return p.read;
  }

  private setupOutput(id: number | undefined): number {
    if (id === undefined) return nullFd();
    const p = makePipe();
    this.childFds.push(p.write);
    const s = this.channel?.attachStream(id, { read: false, write: true });
    this.outputPumps.push(pumpFdToStream(p.read, s?.writable));
    return p.write;
  }

  /**
   * The runtime has spawned the process (or is running it, for exec): close
   * our copies of the child's fds; for a terminal, receive the pty master.
   * `runtimeExited` settles when the runtime command finished.
   */
  async connect(runtimeExited: Promise<unknown>): Promise<void> {
    for (const fd of this.childFds.splice(0)) closeFd(fd);
    if (this.listenFd === undefined) return;
    let finished = false;
    void runtimeExited.finally(() => (finished = true));
    try {
      let conn: number | null = null;
      for (;;) {
        conn ??= acceptUnix(this.listenFd);
        if (conn !== null) {
          const got = recvFd(conn);
          if (got) {
            this.master = got.fd;
            break;
          }
        }
        if (finished) {
          // one last look: the runtime may have sent just before exiting
          conn ??= acceptUnix(this.listenFd);
          const got = conn !== null ? recvFd(conn) : null;
          if (got) {
            this.master = got.fd;
            break;
          }
          throw new AgentError("the runtime exited without sending the terminal");
        }
        await Bun.sleep(10);
      }
      if (conn !== null) closeSocket(conn);
    } finally {
      closeSocket(this.listenFd);
      this.listenFd = undefined;
      rmSync(this.consoleSocket, { force: true });
    }
    const master = this.master;
    if (this.stdio.rows && this.stdio.cols) setWindowSize(master, this.stdio.rows, this.stdio.cols);
    const out = this.stdio.stdout !== undefined ? this.channel?.attachStream(this.stdio.stdout, { read: false, write: true }) : undefined;
    this.outputPumps.push(pumpFdToStream(master, out?.writable, { keepFd: true }));
    this.stdin = new FdWriter(master, false);
    if (this.stdio.stdin !== undefined) {
      const s = this.channel?.attachStream(this.stdio.stdin, { read: true, write: false });
      if (s?.readable) this.pumps.push(pumpStreamToFd(s.readable, this.stdin, false));
    }
    // The master is ours to close once the process side is gone (EIO → pump ends).
    void Promise.all(this.outputPumps).then(() => {
      this.master = undefined;
      closeFd(master);
    });
  }

  /** Resolves when every output stream reached EOF (the process and its children closed them). */
  outputDone(): Promise<void> {
    return Promise.all(this.outputPumps).then(() => {});
  }

  async writeStdin(bytes: Uint8Array): Promise<number> {
    if (!this.stdin || this.stdin.isClosed) throw new AgentError("the process has no open stdin");
    return await this.stdin.write(bytes);
  }

  async closeStdin(): Promise<void> {
    if (!this.stdin) return;
    // A terminal has no half-close: send EOF (^D) as a typist would.
    if (this.master !== undefined) await this.stdin.write(new Uint8Array([4])).catch(() => {});
    else await this.stdin.close();
  }

  resize(rows: number, cols: number): void {
    if (this.master === undefined) throw new AgentError("the process has no terminal");
    setWindowSize(this.master, rows, cols);
  }

  /** Undo after a failed create/exec. */
  abort(): void {
    for (const fd of this.childFds.splice(0)) closeFd(fd);
    if (this.listenFd !== undefined) {
      closeSocket(this.listenFd);
      this.listenFd = undefined;
      rmSync(this.consoleSocket, { force: true });
    }
    void this.stdin?.close();
  }
}
