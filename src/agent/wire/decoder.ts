import { type HuskError, ProtocolError } from "../../errors.ts";
import { MAX_FRAME_BYTES } from "../protocol.ts";
import { FrameType, HEADER_BYTES, MAGIC0, MAGIC1, type Frame, frameTypeName, isFrameType } from "./frame.ts";

export interface DecoderOptions {
  maxFrameBytes?: number;
  /**
   * Start in resync mode: discard bytes until a HELLO header. A fresh
   * connection must begin with HELLO anyway, and a virtio-serial port can
   * hold stale bytes from an earlier host connection.
   */
  startInSync?: boolean;
}

/**
 * Incremental frame decoder. push() never throws: a bad frame (wrong magic,
 * unknown type, a length over the limit) is reported through onError and the
 * decoder drops everything and resyncs on the next HELLO header. The length
 * is checked from the header, before a byte of the payload is kept, so the
 * decoder holds at most one frame (≤ maxFrameBytes) between pushes.
 */
export class FrameDecoder {
  private readonly max: number;
  private buf: Uint8Array = new Uint8Array(0);
  private syncing: boolean;

  constructor(
    private readonly onFrame: (frame: Frame) => void,
    private readonly onError: (error: HuskError) => void,
    options: DecoderOptions = {},
  ) {
    this.max = options.maxFrameBytes ?? MAX_FRAME_BYTES;
    this.syncing = options.startInSync ?? true;
  }

  /** Bytes currently held (for tests and accounting). */
  get buffered(): number {
    return this.buf.length;
  }

  get inSync(): boolean {
    return !this.syncing;
  }

  /** Drop buffered bytes and wait for the next HELLO. */
  reset(): void {
    this.buf = new Uint8Array(0);
    this.syncing = true;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    let data = this.buf.length === 0 ? chunk : concat(this.buf, chunk);
    this.buf = new Uint8Array(0);
    let off = 0;
    while (off < data.length) {
      if (this.syncing) {
        const at = findHello(data, off);
        if (at < 0) {
          // Keep a possible partial magic at the end, nothing more.
          off = Math.max(off, data.length - 2);
          break;
        }
        off = at;
        this.syncing = false;
      }
      if (data.length - off < HEADER_BYTES) break;
      const view = new DataView(data.buffer, data.byteOffset + off, HEADER_BYTES);
      const type = data[off + 2]!;
      const flags = data[off + 3]!;
      const id = view.getUint32(4);
      const length = view.getUint32(8);
      if (data[off] !== MAGIC0 || data[off + 1] !== MAGIC1) {
        this.fail(`bad frame magic 0x${hex(data[off]!)}${hex(data[off + 1]!)}`);
        off += 1; // resync from the next byte
        continue;
      }
      if (!isFrameType(type)) {
        this.fail(`unknown frame type ${type}`);
        off += 1;
        continue;
      }
      if (HEADER_BYTES + length > this.max) {
        this.fail(`${frameTypeName(type)} frame of ${length} bytes exceeds the ${this.max}-byte limit`);
        off += HEADER_BYTES; // never buffer the oversized payload
        continue;
      }
      if (data.length - off < HEADER_BYTES + length) break;
      const payload = data.slice(off + HEADER_BYTES, off + HEADER_BYTES + length);
      off += HEADER_BYTES + length;
      try {
        this.onFrame({ type, flags, id, payload });
      } catch (e) {
        // A handler bug must not escape into the transport's read loop.
        this.fail(`frame handler failed: ${e instanceof Error ? e.message : String(e)}`, e);
      }
      // If onFrame reset us, the loop resyncs: what follows belongs to the old session.
    }
    if (off < data.length) this.buf = data.slice(off);
  }

  private fail(message: string, cause?: unknown): void {
    this.syncing = true;
    try {
      this.onError(new ProtocolError(message, cause === undefined ? {} : { cause }));
    } catch {
      // onError must not throw either; nothing sensible to do with it here.
    }
  }
}

function findHello(data: Uint8Array, from: number): number {
  for (let i = from; i + 2 < data.length; i++) {
    if (data[i] === MAGIC0 && data[i + 1] === MAGIC1 && data[i + 2] === FrameType.HELLO) return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}
