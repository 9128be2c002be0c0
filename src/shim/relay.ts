import { read, write } from "node:fs";
import { promisify } from "node:util";

/**
 * Byte pumps between host file descriptors (inherited fifos/pipes, a
 * terminal, a pty slave) and the agent's flow-controlled streams. Each
 * direction awaits the other end before reading more: backpressure all the
 * way from the guest process to whoever reads our stdout, and back.
 * Reads/writes run on libuv's pool, so a blocking fd never stalls the loop.
 */

const readAsync = promisify(read);
const writeAsync = promisify(write);
const CHUNK = 64 * 1024;

/** Errors that mean "the other end is gone": treat as end of stream. */
const GONE = new Set(["EIO", "EPIPE", "EBADF", "ECONNRESET", "ENXIO"]);

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** Copy fd → stream until EOF; closes the stream (the guest sees EOF on stdin). */
export async function pumpFdToStream(fd: number, stream: WritableStream<Uint8Array>, stop: AbortSignal): Promise<void> {
  const writer = stream.getWriter();
  try {
    for (;;) {
      if (stop.aborted) return;
      const buf = Buffer.allocUnsafe(CHUNK);
      let n: number;
      try {
        ({ bytesRead: n } = await readAsync(fd, buf, 0, CHUNK, null));
      } catch (e) {
        if (code(e) === "EAGAIN") {
          // An fd someone left non-blocking: poll it gently.
          await Bun.sleep(20);
          continue;
        }
        if (code(e) === "EINTR") continue;
        if (GONE.has(code(e) ?? "")) break;
        throw e;
      }
      if (n === 0 || stop.aborted) break;
      await writer.write(buf.subarray(0, n));
    }
    await writer.close();
  } catch {
    // The guest side went away (process exited, stream reset): nothing left to feed.
    await writer.abort().catch(() => {});
  } finally {
    writer.releaseLock();
  }
}

async function writeAll(fd: number, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) {
    try {
      const { bytesWritten } = await writeAsync(fd, data, off, data.length - off);
      off += bytesWritten;
    } catch (e) {
      if (code(e) === "EAGAIN" || code(e) === "EINTR") {
        await Bun.sleep(5);
        continue;
      }
      throw e;
    }
  }
}

/**
 * Copy stream → fd until the stream ends. When the reader of fd is gone
 * (EPIPE), cancel the stream so the guest process sees a broken pipe too,
 * instead of blocking forever on a full window.
 */
export async function pumpStreamToFd(stream: ReadableStream<Uint8Array>, fd: number): Promise<void> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      if (value.length > 0) await writeAll(fd, value);
    }
  } catch (e) {
    if (!GONE.has(code(e) ?? "")) {
      await reader.cancel().catch(() => {});
      throw e;
    }
    await reader.cancel().catch(() => {});
  } finally {
    reader.releaseLock();
  }
}
