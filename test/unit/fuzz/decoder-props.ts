import fc from "fast-check";
import { ERROR_CODES, HuskError } from "../../../src/host/errors.ts";
import { FrameDecoder } from "../../../src/agent/wire/decoder.ts";
import {
  decodeCredit,
  decodeJson,
  encodeFrame,
  type Frame,
  FrameType,
  HEADER_BYTES,
  MAGIC0,
  MAGIC1,
} from "../../../src/agent/wire/frame.ts";

/**
 * Properties of the agent frame decoder (src/agent/wire/decoder.ts), the
 * first thing a guest's bytes meet: whatever arrives, in whatever chunks,
 * push() never throws, never holds more than one frame's worth of bytes,
 * reports every bad frame as an E_PROTOCOL HuskError, and hands on only
 * well-formed frames; valid frames survive any chunking exactly.
 */

/** Small, so that over-limit lengths and full buffers are hit often. */
const MAX = 1024;

const frameTypes = Object.values(FrameType);

const frameArb: fc.Arbitrary<{ type: FrameType; id: number; payload: Uint8Array }> = fc.record({
  type: fc.constantFrom(...frameTypes),
  id: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff_ffff })),
  payload: fc.uint8Array({ maxLength: MAX - HEADER_BYTES }),
});

/** Split a byte string at the given cut points (chunking as a transport would). */
function split(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, data.length]) {
    if (p > prev) out.push(data.subarray(prev, p));
    prev = p;
  }
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

interface Observed {
  frames: Frame[];
  errors: unknown[];
  maxBuffered: number;
}

function feed(chunks: Uint8Array[], onFrame?: (f: Frame, d: FrameDecoder) => void): Observed {
  const seen: Observed = { frames: [], errors: [], maxBuffered: 0 };
  const dec: FrameDecoder = new FrameDecoder(
    (f) => {
      seen.frames.push(f);
      onFrame?.(f, dec);
    },
    (e) => seen.errors.push(e),
    { maxFrameBytes: MAX },
  );
  for (const c of chunks) {
    dec.push(c); // must not throw: a throw fails the property
    seen.maxBuffered = Math.max(seen.maxBuffered, dec.buffered);
  }
  return seen;
}

function wellFormed(f: Frame): boolean {
  return frameTypes.includes(f.type) && f.payload.length <= MAX - HEADER_BYTES && f.id >= 0 && f.id <= 0xffff_ffff;
}

function isProtocolError(e: unknown): boolean {
  return e instanceof HuskError && e.code === "E_PROTOCOL" && (ERROR_CODES as readonly string[]).includes(e.code) && e.message.length > 0;
}

/** A HELLO first (decoders start in resync mode), then the frames. */
function stream(frames: { type: FrameType; id: number; payload: Uint8Array }[]): Uint8Array {
  return concat([encodeFrame(FrameType.HELLO, 0, new Uint8Array(0)), ...frames.map((f) => encodeFrame(f.type, f.id, f.payload))]);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function decoderProperties(): Record<string, fc.IProperty<any>> {
  return {
    "arbitrary bytes in arbitrary chunks: no throw, at most one frame buffered, only E_PROTOCOL errors, only well-formed frames":
      fc.property(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 3 * MAX }),
            frameArb.map((f) => encodeFrame(f.type, f.id, f.payload)),
            fc.constant(encodeFrame(FrameType.HELLO, 0)),
            // A header with any type, flags and length, and a little of a payload.
            fc
              .tuple(fc.uint8Array({ minLength: 10, maxLength: 10 }), fc.uint8Array({ maxLength: 64 }))
              .map(([h, p]) => concat([new Uint8Array([MAGIC0, MAGIC1]), h, p])),
          ),
          { maxLength: 40 },
        ),
        (chunks) => {
          const seen = feed(chunks);
          return seen.maxBuffered <= MAX && seen.errors.every(isProtocolError) && seen.frames.every(wellFormed);
        },
      ),

    "valid frames survive any chunking exactly, with no error": fc.property(
      fc.array(frameArb, { maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 30 }),
      fc.uint8Array({ maxLength: 64 }).map((g) => g.filter((b) => b !== MAGIC0)),
      (frames, cuts, garbage) => {
        const data = concat([garbage, stream(frames)]);
        const seen = feed(split(data, cuts));
        if (seen.errors.length > 0) return false;
        const got = seen.frames.slice(1); // the HELLO
        return (
          got.length === frames.length &&
          got.every(
            (f, i) =>
              f.type === frames[i]!.type && f.id === frames[i]!.id && Buffer.from(f.payload).equals(Buffer.from(frames[i]!.payload)),
          )
        );
      },
    ),

    "corrupted, truncated or oversized frames: no throw, bounded, E_PROTOCOL, and the decoder resyncs on the next HELLO": fc.property(
      fc.array(frameArb, { minLength: 1, maxLength: 10 }),
      fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 6 }),
      fc.integer({ min: MAX, max: 0xffff_ffff }),
      fc.array(fc.nat(), { maxLength: 20 }),
      (frames, flips, hugeLength, cuts) => {
        const data = stream(frames);
        for (const f of flips) data[f.at % data.length] = f.byte;
        // A header claiming more than the limit, then a valid HELLO and a frame after it.
        const liar = new Uint8Array(HEADER_BYTES);
        liar.set([MAGIC0, MAGIC1, FrameType.DATA, 0]);
        new DataView(liar.buffer).setUint32(8, hugeLength);
        const after = encodeFrame(FrameType.EVENT, 0, new TextEncoder().encode('{"event":"oom"}'));
        // Filler longer than any frame: whatever frame the corruption left open ends inside it.
        const all = concat([data, liar, new Uint8Array(MAX + 16).fill(0x41), encodeFrame(FrameType.HELLO, 0), after]);
        const seen = feed(split(all, cuts));
        const last = seen.frames.at(-1);
        return (
          seen.maxBuffered <= MAX &&
          seen.errors.every(isProtocolError) &&
          seen.frames.every(wellFormed) &&
          last !== undefined &&
          last.type === FrameType.EVENT &&
          Buffer.from(last.payload).toString() === '{"event":"oom"}'
        );
      },
    ),

    "a frame handler that throws or resets the decoder never makes push() throw": fc.property(
      fc.array(frameArb, { minLength: 1, maxLength: 10 }),
      fc.array(fc.constantFrom("ok", "throw", "reset"), { minLength: 1, maxLength: 10 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      (frames, actions, cuts) => {
        let i = 0;
        const seen = feed(split(stream(frames), cuts), (_f, dec) => {
          const a = actions[i++ % actions.length];
          if (a === "throw") throw new Error("handler bug");
          if (a === "reset") dec.reset();
        });
        return seen.maxBuffered <= MAX && seen.errors.every(isProtocolError);
      },
    ),

    "payload codecs: decodeJson throws only SyntaxError/TypeError, decodeCredit gives a u32 or null": fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        fc.string({ unit: "binary" }).map((s) => new TextEncoder().encode(s)),
      ),
      (payload) => {
        try {
          decodeJson(payload);
        } catch (e) {
          if (!(e instanceof SyntaxError || e instanceof TypeError)) return false;
        }
        const c = decodeCredit(payload);
        return c === null ? payload.length !== 4 : payload.length === 4 && Number.isInteger(c) && c >= 0 && c <= 0xffff_ffff;
      },
    ),
  };
}
