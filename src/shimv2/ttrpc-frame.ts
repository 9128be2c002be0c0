import { ProtocolError } from "../host/errors.ts";
import type { Socket } from "bun";

/** ttrpc frames (see ./ttrpc.ts): the header codec, the bounded decoder, and a bounded connection writer. */

export const HEADER_BYTES = 10;
/** ttrpc's own limit (messageLengthMax). */
export const MAX_FRAME_BYTES = 4 << 20;
/** Calls one connection may have in progress; containerd makes a few. */
export const MAX_INFLIGHT = 64;
/** Bytes queued for a peer that does not read before it is dropped. */
const MAX_QUEUED_WRITE = 16 << 20;

export const FRAME_REQUEST = 1;
export const FRAME_RESPONSE = 2;
export const FRAME_DATA = 3;

/** gRPC status codes used here. */
export const Code = {
  OK: 0,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  FailedPrecondition: 9,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
} as const;

export interface Frame {
  streamId: number;
  type: number;
  flags: number;
  payload: Uint8Array;
}

export function encodeFrame(f: Frame): Uint8Array {
  if (f.payload.length > MAX_FRAME_BYTES) {
    throw new ProtocolError(`ttrpc message of ${f.payload.length} bytes is over the ${MAX_FRAME_BYTES}-byte limit`, {
      details: { bytes: f.payload.length, limit: MAX_FRAME_BYTES },
    });
  }
  const out = new Uint8Array(HEADER_BYTES + f.payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, f.payload.length);
  dv.setUint32(4, f.streamId >>> 0);
  out[8] = f.type;
  out[9] = f.flags;
  out.set(f.payload, HEADER_BYTES);
  return out;
}

/**
 * Splits a byte stream into frames. A header announcing more than
 * MAX_FRAME_BYTES throws at once (nothing of it is buffered); so does a frame
 * type outside 1..3. Buffered bytes never exceed one header plus one frame.
 */
export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  private buffered = 0;

  push(data: Uint8Array): Frame[] {
    if (data.length > 0) {
      this.chunks.push(data);
      this.buffered += data.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (this.buffered < HEADER_BYTES) break;
      const head = this.peek(HEADER_BYTES);
      const dv = new DataView(head.buffer, head.byteOffset, HEADER_BYTES);
      const length = dv.getUint32(0);
      const type = head[8]!;
      if (length > MAX_FRAME_BYTES) {
        throw new ProtocolError(`ttrpc frame of ${length} bytes is over the ${MAX_FRAME_BYTES}-byte limit`, {
          details: { bytes: length, limit: MAX_FRAME_BYTES },
        });
      }
      if (type < FRAME_REQUEST || type > FRAME_DATA) throw new ProtocolError(`unknown ttrpc frame type ${type}`, { details: { type } });
      if (this.buffered < HEADER_BYTES + length) break;
      const whole = this.take(HEADER_BYTES + length);
      frames.push({ streamId: dv.getUint32(4), type, flags: head[9]!, payload: whole.subarray(HEADER_BYTES) });
    }
    return frames;
  }

  /** Bytes of an unfinished frame (a peer that stops mid-frame leaves some). */
  get pending(): number {
    return this.buffered;
  }

  private peek(n: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    this.coalesce();
    return this.chunks[0]!.subarray(0, n);
  }

  private take(n: number): Uint8Array {
    this.coalesce();
    const all = this.chunks[0]!;
    const out = all.slice(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered -= n;
    return out;
  }

  private coalesce(): void {
    if (this.chunks.length <= 1) return;
    const all = new Uint8Array(this.buffered);
    let off = 0;
    for (const c of this.chunks) {
      all.set(c, off);
      off += c.length;
    }
    this.chunks = [all];
  }
}

/** A connection writer that queues what the kernel does not take yet, bounded. */
export class Writer {
  private queue: Uint8Array[] = [];
  private queued = 0;

  constructor(
    private readonly socket: Socket<unknown>,
    private readonly onOverflow: () => void,
  ) {}

  write(data: Uint8Array): void {
    if (this.queue.length > 0) {
      this.enqueue(data);
      return;
    }
    const n = this.socket.write(data);
    if (n < data.length) this.enqueue(data.subarray(Math.max(n, 0)));
  }

  drain(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const n = this.socket.write(head);
      if (n <= 0) return;
      this.queued -= n;
      if (n < head.length) {
        this.queue[0] = head.subarray(n);
        return;
      }
      this.queue.shift();
    }
  }

  private enqueue(data: Uint8Array): void {
    this.queue.push(data);
    this.queued += data.length;
    if (this.queued > MAX_QUEUED_WRITE) this.onOverflow();
  }
}
