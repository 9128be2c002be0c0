import { type HuskError, ProtocolError } from "../../host/errors.ts";
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
  // Chunks are kept as received and copied once per frame: a peer dribbling
  // one byte at a time costs linear, not quadratic, work.
  private chunks: Uint8Array[] = [];
  private total = 0;
  /** Bytes needed before the pending frame is complete (0 = parse on every push). */
  private need = 0;
  /** Bumped by reset(): a callback that reset us means the rest of this push is dropped. */
  private generation = 0;
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
    return this.total;
  }

  get inSync(): boolean {
    return !this.syncing;
  }

  /** Drop buffered bytes and wait for the next HELLO. */
  reset(): void {
    this.generation++;
    this.chunks = [];
    this.total = 0;
    this.need = 0;
    this.syncing = true;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    try {
      this.pushUnsafe(chunk);
    } catch (e) {
      // Last line of defence: a decoder bug must not take the process down.
      this.reset();
      this.fail(`decoder failure: ${e instanceof Error ? e.message : String(e)}`, e);
    }
  }

  private pushUnsafe(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.total += chunk.length;
    // Waiting for the rest of a frame whose header was already checked: nothing to do yet.
    if (this.total < this.need) return;
    this.need = 0;
    for (;;) {
      if (this.syncing) {
        const data = this.flatten();
        const at = findHello(data, 0);
        if (at < 0) {
          // Keep a possible partial magic at the end, nothing more.
          this.set(data.subarray(Math.max(0, data.length - 2)));
          return;
        }
        this.set(data.subarray(at));
        this.syncing = false;
      }
      if (this.total < HEADER_BYTES) return;
      const head = this.peek(HEADER_BYTES);
      const view = new DataView(head.buffer, head.byteOffset, HEADER_BYTES);
      const type = head[2]!;
      const flags = head[3]!;
      const id = view.getUint32(4);
      const length = view.getUint32(8);
      if (head[0] !== MAGIC0 || head[1] !== MAGIC1) {
        if (this.fail(`bad frame magic 0x${hex(head[0]!)}${hex(head[1]!)}`)) return;
        this.take(1); // resync from the next byte
        continue;
      }
      if (!isFrameType(type)) {
        if (this.fail(`unknown frame type ${type}`)) return;
        this.take(1);
        continue;
      }
      if (HEADER_BYTES + length > this.max) {
        if (this.fail(`${frameTypeName(type)} frame of ${length} bytes exceeds the ${this.max}-byte limit`)) return;
        this.take(HEADER_BYTES); // never buffer the oversized payload
        continue;
      }
      if (this.total < HEADER_BYTES + length) {
        this.need = HEADER_BYTES + length;
        return;
      }
      const frame = this.take(HEADER_BYTES + length);
      const payload = frame.subarray(HEADER_BYTES);
      const gen = this.generation;
      try {
        this.onFrame({ type, flags, id, payload });
      } catch (e) {
        // A handler bug must not escape into the transport's read loop.
        if (this.fail(`frame handler failed: ${e instanceof Error ? e.message : String(e)}`, e)) return;
      }
      // onFrame reset us: what followed belonged to the old session and is gone.
      if (gen !== this.generation) return;
    }
  }

  private set(data: Uint8Array): void {
    this.chunks = data.length ? [data] : [];
    this.total = data.length;
  }

  private flatten(): Uint8Array {
    if (this.chunks.length === 1) return this.chunks[0]!;
    const out = new Uint8Array(this.total);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    this.set(out);
    return out;
  }

  /** Copy of the first n bytes (n ≤ total). */
  private peek(n: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    const out = new Uint8Array(n);
    let off = 0;
    for (const c of this.chunks) {
      const k = Math.min(c.length, n - off);
      out.set(c.subarray(0, k), off);
      off += k;
      if (off === n) break;
    }
    return out;
  }

  /** Remove and return the first n bytes (a fresh copy, so callers may keep it). */
  private take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let off = 0;
    let i = 0;
    while (off < n) {
      const c = this.chunks[i]!;
      const k = Math.min(c.length, n - off);
      out.set(c.subarray(0, k), off);
      off += k;
      if (k === c.length) i++;
      else this.chunks[i] = c.subarray(k);
    }
    this.chunks.splice(0, i); // once, not per chunk
    this.total -= n;
    return out;
  }

  /** Report and enter resync mode. Returns true when onError reset us (buffers dropped). */
  private fail(message: string, cause?: unknown): boolean {
    this.syncing = true;
    const gen = this.generation;
    try {
      this.onError(new ProtocolError(message, cause === undefined ? {} : { cause }));
    } catch {
      // onError must not throw either; nothing sensible to do with it here.
    }
    return gen !== this.generation;
  }
}

function findHello(data: Uint8Array, from: number): number {
  for (let i = from; i + 2 < data.length; i++) {
    if (data[i] === MAGIC0 && data[i + 1] === MAGIC1 && data[i + 2] === FrameType.HELLO) return i;
  }
  return -1;
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}
