import { MAX_FRAME_BYTES } from "../protocol.ts";

/**
 * Frame format (pure codec, no I/O). Every frame is a 12-byte header and a
 * payload:
 *
 *   0  1  2    3     4..7        8..11
 *   'H''K' type flags id (u32 BE) length (u32 BE)   payload[length]
 *
 * The magic lets a decoder that lost its place (stale bytes left in a
 * virtio-serial port by a previous host connection) find the next HELLO.
 * `id` is a request id (REQUEST/RESPONSE/ERROR/CANCEL), a stream id
 * (DATA/CREDIT/CLOSE/RESET) or 0. Control payloads are UTF-8 JSON, DATA is
 * raw bytes, CREDIT is a u32 BE byte count.
 */

export const MAGIC0 = 0x48; // 'H'
export const MAGIC1 = 0x4b; // 'K'
export const HEADER_BYTES = 12;
/** Largest DATA payload a sender puts in one frame (well under the frame limit). */
export const MAX_DATA_CHUNK = 64 * 1024;

export const FrameType = {
  HELLO: 1,
  REQUEST: 2,
  RESPONSE: 3,
  ERROR: 4,
  EVENT: 5,
  CANCEL: 6,
  DATA: 7,
  CREDIT: 8,
  CLOSE: 9,
  RESET: 10,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const TYPE_NAMES = Object.fromEntries(Object.entries(FrameType).map(([k, v]) => [v, k])) as Record<number, string>;

export function frameTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `unknown(${type})`;
}

export function isFrameType(type: number): type is FrameType {
  return type in TYPE_NAMES;
}

export interface Frame {
  type: FrameType;
  flags: number;
  id: number;
  payload: Uint8Array;
}

const EMPTY = new Uint8Array(0);

export function encodeFrame(type: FrameType, id: number, payload: Uint8Array = EMPTY, flags = 0): Uint8Array {
  if (HEADER_BYTES + payload.length > MAX_FRAME_BYTES) {
    throw new RangeError(`frame of ${payload.length} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit`);
  }
  const out = new Uint8Array(HEADER_BYTES + payload.length);
  const view = new DataView(out.buffer);
  out[0] = MAGIC0;
  out[1] = MAGIC1;
  out[2] = type;
  out[3] = flags & 0xff;
  view.setUint32(4, id >>> 0);
  view.setUint32(8, payload.length);
  out.set(payload, HEADER_BYTES);
  return out;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Parse a control payload; throws SyntaxError/TypeError on bad UTF-8 or JSON. */
export function decodeJson(payload: Uint8Array): unknown {
  return JSON.parse(decoder.decode(payload));
}

export function encodeCredit(bytes: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, bytes >>> 0);
  return out;
}

/** Returns the credit increment or null when the payload is not exactly a u32. */
export function decodeCredit(payload: Uint8Array): number | null {
  if (payload.length !== 4) return null;
  return new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
}
