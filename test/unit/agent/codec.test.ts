import { describe, expect, test } from "bun:test";
import { MAX_FRAME_BYTES } from "../../../src/agent/protocol.ts";
import { FrameDecoder } from "../../../src/agent/wire/decoder.ts";
import { decodeCredit, encodeCredit, encodeFrame, encodeJson, type Frame, FrameType, HEADER_BYTES } from "../../../src/agent/wire/frame.ts";

const ALL_TYPES = Object.values(FrameType);

/** Deterministic PRNG so a failing fuzz case can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function collect(options: { startInSync?: boolean; maxFrameBytes?: number } = {}) {
  const frames: Frame[] = [];
  const errors: Error[] = [];
  const dec = new FrameDecoder(
    (f) => frames.push(f),
    (e) => errors.push(e),
    { startInSync: false, ...options },
  );
  return { dec, frames, errors };
}

const hello = () => encodeFrame(FrameType.HELLO, 0, encodeJson({ version: 1, nonce: "n" }));

describe("frame codec", () => {
  test("every frame type round-trips, whatever the chunking", () => {
    const r = rng(1);
    const sent: { type: number; id: number; flags: number; payload: Uint8Array }[] = [];
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 200; i++) {
      const type = ALL_TYPES[i % ALL_TYPES.length]!;
      const payload = new Uint8Array(Math.floor(r() * 3000)).map(() => Math.floor(r() * 256));
      const id = Math.floor(r() * 0xffffffff);
      const flags = Math.floor(r() * 256);
      sent.push({ type, id, flags, payload });
      parts.push(encodeFrame(type, id, payload, flags));
    }
    const all = Buffer.concat(parts);
    for (const chunking of [1, 7, 4096, all.length]) {
      const { dec, frames, errors } = collect();
      for (let off = 0; off < all.length; off += chunking) dec.push(all.subarray(off, off + chunking));
      expect(errors).toEqual([]);
      expect(frames.length).toBe(sent.length);
      frames.forEach((f, i) => {
        expect(f.type).toBe(sent[i]!.type as FrameType);
        expect(f.id).toBe(sent[i]!.id);
        expect(f.flags).toBe(sent[i]!.flags);
        expect(Buffer.from(f.payload).equals(Buffer.from(sent[i]!.payload))).toBe(true);
      });
      expect(dec.buffered).toBe(0);
    }
  });

  test("credit payloads are a u32", () => {
    expect(decodeCredit(encodeCredit(262144))).toBe(262144);
    expect(decodeCredit(new Uint8Array(3))).toBeNull();
  });

  test("the encoder refuses a frame over the limit", () => {
    expect(() => encodeFrame(FrameType.DATA, 1, new Uint8Array(MAX_FRAME_BYTES))).toThrow(/exceeds/);
    expect(encodeFrame(FrameType.DATA, 1, new Uint8Array(MAX_FRAME_BYTES - HEADER_BYTES)).length).toBe(MAX_FRAME_BYTES);
  });

  test("an oversized frame is refused from its header, never buffered, and the decoder resyncs on HELLO", () => {
    const { dec, frames, errors } = collect();
    const header = new Uint8Array(HEADER_BYTES);
    header.set([0x48, 0x4b, FrameType.DATA, 0]);
    new DataView(header.buffer).setUint32(8, 512 * 1024 * 1024);
    dec.push(header);
    expect(errors.length).toBe(1);
    expect(errors[0]!.message).toMatch(/exceeds/);
    // The claimed payload streams in: nothing of it is kept.
    for (let i = 0; i < 64; i++) {
      dec.push(new Uint8Array(64 * 1024).fill(0x41));
      expect(dec.buffered).toBeLessThanOrEqual(2);
    }
    dec.push(hello());
    expect(frames.map((f) => f.type)).toEqual([FrameType.HELLO]);
  });

  test("a truncated frame waits for the rest; holds at most one frame", () => {
    const { dec, frames } = collect();
    const f = encodeFrame(FrameType.REQUEST, 9, encodeJson({ method: "version", params: {} }));
    dec.push(f.subarray(0, 5));
    dec.push(f.subarray(5, f.length - 1));
    expect(frames.length).toBe(0);
    expect(dec.buffered).toBe(f.length - 1);
    dec.push(f.subarray(f.length - 1));
    expect(frames.length).toBe(1);
    expect(dec.buffered).toBe(0);
  });

  test("garbage before the first HELLO is skipped; bad magic or type mid-stream resyncs", () => {
    const { dec, frames, errors } = collect({ startInSync: true });
    dec.push(new Uint8Array([1, 2, 3, 0x48, 0x4b, 9, 9]));
    dec.push(hello());
    dec.push(encodeFrame(FrameType.EVENT, 0, encodeJson({})));
    expect(frames.map((f) => f.type)).toEqual([FrameType.HELLO, FrameType.EVENT]);
    expect(errors.length).toBe(0);
    const bad = encodeFrame(FrameType.DATA, 1, new Uint8Array(4));
    bad[2] = 99; // unknown type
    dec.push(bad);
    expect(errors.length).toBe(1);
    dec.push(encodeFrame(FrameType.DATA, 1, new Uint8Array(4))); // ignored until HELLO
    dec.push(hello());
    expect(frames.map((f) => f.type)).toEqual([FrameType.HELLO, FrameType.EVENT, FrameType.HELLO]);
  });

  test("a throwing frame handler is reported, never thrown out of push()", () => {
    const errors: Error[] = [];
    const dec = new FrameDecoder(
      () => {
        throw new Error("handler bug");
      },
      (e) => errors.push(e),
      { startInSync: false },
    );
    expect(() => dec.push(hello())).not.toThrow();
    expect(errors[0]!.message).toMatch(/handler bug/);
  });

  test("fuzz: random bytes and mutated frames never throw, never buffer past the limit", () => {
    const r = rng(42);
    const max = 64 * 1024;
    const { dec, errors } = collect({ maxFrameBytes: max });
    let peak = 0;
    for (let i = 0; i < 3000; i++) {
      let chunk: Uint8Array;
      const kind = r();
      if (kind < 0.4) chunk = new Uint8Array(Math.floor(r() * 2048)).map(() => Math.floor(r() * 256));
      else {
        const type = ALL_TYPES[Math.floor(r() * ALL_TYPES.length)]!;
        chunk = encodeFrame(type, Math.floor(r() * 100), new Uint8Array(Math.floor(r() * 4000)));
        // flip a few bytes, truncate sometimes
        for (let k = 0; k < 3; k++) if (r() < 0.3) chunk[Math.floor(r() * chunk.length)] = Math.floor(r() * 256);
        if (r() < 0.3) chunk = chunk.subarray(0, Math.floor(r() * chunk.length));
      }
      expect(() => dec.push(chunk)).not.toThrow();
      peak = Math.max(peak, dec.buffered);
    }
    expect(peak).toBeLessThanOrEqual(max);
    expect(errors.length).toBeGreaterThan(0);
    // and it still decodes once the peer starts over
    const after = collect({ maxFrameBytes: max });
    dec.reset();
    let got = 0;
    const dec2 = new FrameDecoder(
      () => got++,
      () => {},
      { maxFrameBytes: max },
    );
    dec2.push(hello());
    expect(got).toBe(1);
    expect(after.errors.length).toBe(0);
  });
});
