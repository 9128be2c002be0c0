import { closeFd, setNonBlocking } from "../../host/ffi/process.ts";
import { logger } from "../../host/log.ts";

const log = logger("agent-stdio");

/**
 * Copy a pipe/pty fd into a stream writable. If the writable fails (the host
 * went away), keep draining the fd so the process never blocks on a full
 * pipe. Resolves at EOF (EIO on a pty master counts as EOF); closes the fd
 * unless keepFd.
 */
export async function pumpFdToStream(
  fd: number,
  sink: WritableStream<Uint8Array> | undefined,
  options: { keepFd?: boolean } = {},
): Promise<void> {
  let writer = sink?.getWriter();
  try {
    setNonBlocking(fd, true);
  } catch {
    // not fatal: Bun copes with blocking fds too
  }
  const reader = Bun.file(fd).stream().getReader();
  try {
    for (;;) {
      let r: Awaited<ReturnType<typeof reader.read>>;
      try {
        r = await reader.read();
      } catch (e) {
        // a pty master reads EIO once the last slave fd closes: that is EOF
        log.debug(`fd ${fd}: read ended: ${e instanceof Error ? e.message : String(e)}`);
        break;
      }
      if (r.done) break;
      if (!writer) continue;
      try {
        await writer.write(r.value);
      } catch {
        writer = undefined; // host side gone: drain and discard
      }
    }
    if (writer) await writer.close().catch(() => {});
  } finally {
    reader.releaseLock();
    if (!options.keepFd) closeFd(fd);
  }
}

/**
 * Writes into a process's stdin (pipe write end or pty master), with
 * backpressure (each write waits until the kernel took it).
 */
export class FdWriter {
  private sink: ReturnType<ReturnType<typeof Bun.file>["writer"]>;
  private closed = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly fd: number,
    private readonly ownsFd = true,
  ) {
    this.sink = Bun.file(fd).writer();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Serialised writes; rejects once the reader is gone (EPIPE). */
  write(bytes: Uint8Array): Promise<number> {
    const p = this.chain.then(async () => {
      if (this.closed) throw new Error("stdin is closed");
      this.sink.write(bytes);
      await this.sink.flush();
      return bytes.length;
    });
    this.chain = p.then(
      () => {},
      () => {},
    );
    return p;
  }

  close(): Promise<void> {
    const p = this.chain.then(async () => {
      if (this.closed) return;
      this.closed = true;
      try {
        await this.sink.end();
      } catch {
        // the reader may be gone already
      }
      if (this.ownsFd) closeFd(this.fd);
    });
    this.chain = p.catch(() => {});
    return p;
  }
}

/** Copy a stream readable (host → guest) into an FdWriter; closes the writer at the end. */
export async function pumpStreamToFd(source: ReadableStream<Uint8Array>, target: FdWriter, closeAtEnd = true): Promise<void> {
  const reader = source.getReader();
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      await target.write(r.value);
    }
  } catch (e) {
    log.debug(`stdin pump ended: ${e instanceof Error ? e.message : String(e)}`);
    await reader.cancel().catch(() => {});
  } finally {
    if (closeAtEnd) await target.close();
  }
}
