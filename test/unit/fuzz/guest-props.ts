import fc from "fast-check";
import * as v from "valibot";
import { agentOverTransport } from "../../../src/agent/client.ts";
import { EVENTS, MAX_FRAME_BYTES, METHODS, type MethodName } from "../../../src/agent/protocol.ts";
import { createAgentRouter, createGuestChannel } from "../../../src/agent/proxy.ts";
import { memoryPair } from "../../../src/agent/transport/memory.ts";
import { FrameDecoder } from "../../../src/agent/wire/decoder.ts";
import { decodeJson, encodeFrame, encodeJson, FrameType, HEADER_BYTES, MAGIC0, MAGIC1 } from "../../../src/agent/wire/frame.ts";
import type { Transport } from "../../../src/agent/wire/transport.ts";
import { ERROR_CODES, HuskError } from "../../../src/host/errors.ts";
import { applyMutations, MESSAGE_KEYS, mutationsOf, SAMPLE_EVENTS, SAMPLE_REQUESTS, SAMPLE_RESPONSES } from "./arbitraries.ts";

/**
 * A hostile guest behind the real monitor path: the monitor's guest channel
 * (createGuestChannel) and router (createAgentRouter), and a host client
 * connected to the router as the CLI and the shims are. The guest answers
 * the handshake (or botches it), sends whatever frames it likes (events
 * valid and broken, garbage, frames for unknown streams, an oversized
 * header), then replies to the forwarded call with a mutated response, a
 * broken error, raw bytes, a reply to a request never made, or nothing.
 * Every time: the host's call settles in bounded time with a value that
 * passes the method's response schema or a HuskError with a stable code;
 * only schema-valid events reach the client; nothing stays pending.
 */

const METHOD_NAMES = Object.keys(METHODS) as MethodName[];
/** The host's timeout: short where the guest botches its part (the call must then end by it), long for an honest guest. */
const CALL_TIMEOUT_MS = 150;
const HONEST_TIMEOUT_MS = 5000;

type Bytes = Uint8Array;

function frame(type: number, id: number, payload?: Bytes): Bytes {
  return encodeFrame(type as FrameType, id, payload);
}

/** A header that claims `length` bytes, without them (the decoder must refuse it from the header). */
function liarHeader(type: number, length: number): Bytes {
  const h = new Uint8Array(HEADER_BYTES);
  h.set([MAGIC0, MAGIC1, type, 0]);
  new DataView(h.buffer).setUint32(8, length >>> 0);
  return h;
}

function json(value: unknown): Bytes {
  // JSON.stringify(undefined) is undefined: the guest then sends the text "undefined", which is not JSON either.
  return new TextEncoder().encode(String(JSON.stringify(value)));
}

const eventName = fc.constantFrom(...(Object.keys(SAMPLE_EVENTS) as (keyof typeof SAMPLE_EVENTS)[]));

const validEvent = eventName.map((e) => ({
  bytes: frame(FrameType.EVENT, 0, encodeJson({ event: e, payload: SAMPLE_EVENTS[e] })),
  valid: true,
}));

/** Frames (as bytes) a guest may send at any time; `valid` says whether a correct host keeps the session. */
const guestNoise: fc.Arbitrary<{ bytes: Bytes; valid: boolean }> = fc.oneof(
  validEvent,
  fc.tuple(eventName, mutationsOf(MESSAGE_KEYS, 2)).map(([e, m]) => ({
    bytes: frame(FrameType.EVENT, 0, json({ event: e, payload: applyMutations(SAMPLE_EVENTS[e], m) })),
    valid: false,
  })),
  fc.string({ maxLength: 20 }).map((e) => ({ bytes: frame(FrameType.EVENT, 0, json({ event: `x${e}`, payload: {} })), valid: false })),
  fc.uint8Array({ maxLength: 200 }).map((p) => ({ bytes: frame(FrameType.EVENT, 0, p), valid: false })),
  fc
    .record({
      type: fc.integer({ min: 0, max: 12 }),
      id: fc.integer({ min: 0, max: 0xffff_ffff }),
      payload: fc.uint8Array({ maxLength: 300 }),
    })
    .map(({ type, id, payload }) => ({
      bytes: type >= 1 && type <= 10 ? frame(type, id, payload) : concat([liarHeader(type, payload.length), payload]),
      valid: false,
    })),
  fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => ({ bytes: b, valid: false })),
  fc
    .integer({ min: 1, max: 0xffff_ffff })
    .map((id) => ({ bytes: frame(FrameType.CREDIT, id, new Uint8Array([0, 1, 0, 0])), valid: false })),
  fc.integer({ min: 1, max: 0xffff_ffff }).map((id) => ({ bytes: frame(FrameType.DATA, id, new Uint8Array(64)), valid: false })),
  fc.string({ maxLength: 50 }).map((m) => ({ bytes: frame(FrameType.RESET, 0, json({ message: m })), valid: false })),
  fc
    .constantFrom(...METHOD_NAMES)
    .map((m) => ({ bytes: frame(FrameType.REQUEST, 7, encodeJson({ method: m, params: {} })), valid: false })),
  fc
    .integer({ min: MAX_FRAME_BYTES, max: 0xffff_ffff })
    .map((n) => ({ bytes: concat([liarHeader(FrameType.RESPONSE, n), new Uint8Array(1000)]), valid: false })),
);

type Reply =
  | { kind: "valid" }
  | { kind: "mutated"; body: unknown }
  | { kind: "error"; body: unknown }
  | { kind: "bytes"; type: number; payload: Bytes }
  | { kind: "wrongId"; delta: number }
  | { kind: "oversized"; length: number }
  | { kind: "none" };

type Hello =
  | { kind: "ok" }
  | { kind: "version"; version: number }
  | { kind: "garbage"; payload: Bytes }
  | { kind: "mutated"; body: unknown };

export interface Scenario {
  method: MethodName;
  hello: Hello;
  before: { bytes: Bytes; valid: boolean }[];
  reply: Reply;
}

function replyArb(method: MethodName): fc.Arbitrary<Reply> {
  return fc.oneof(
    { arbitrary: fc.constant<Reply>({ kind: "valid" }), weight: 3 },
    {
      arbitrary: mutationsOf(MESSAGE_KEYS).map((m): Reply => ({ kind: "mutated", body: applyMutations(SAMPLE_RESPONSES[method], m) })),
      weight: 6,
    },
    {
      arbitrary: fc
        .tuple(
          fc.constantFrom("E_NOT_FOUND", "E_INVALID_STATE", "E_FROB", "", "x".repeat(100)),
          mutationsOf(["code", "message"], 2),
          fc.boolean(),
        )
        .map(
          ([code, m, mutate]): Reply => ({
            kind: "error",
            body: mutate ? applyMutations({ code, message: "m" }, m) : { code, message: "guest says no" },
          }),
        ),
      weight: 3,
    },
    {
      arbitrary: fc
        .record({ type: fc.constantFrom(FrameType.RESPONSE, FrameType.ERROR), payload: fc.uint8Array({ maxLength: 200 }) })
        .map((r): Reply => ({ kind: "bytes", ...r })),
      weight: 2,
    },
    { arbitrary: fc.integer({ min: 1, max: 1000 }).map((delta): Reply => ({ kind: "wrongId", delta })), weight: 1 },
    {
      arbitrary: fc.integer({ min: MAX_FRAME_BYTES, max: 0xffff_ffff }).map((length): Reply => ({ kind: "oversized", length })),
      weight: 1,
    },
    { arbitrary: fc.constant<Reply>({ kind: "none" }), weight: 1 },
  );
}

const helloArb: fc.Arbitrary<Hello> = fc.oneof(
  { arbitrary: fc.constant<Hello>({ kind: "ok" }), weight: 12 },
  {
    arbitrary: fc
      .integer({ min: 0, max: 1000 })
      .filter((n) => n !== 1)
      .map((version): Hello => ({ kind: "version", version })),
    weight: 1,
  },
  { arbitrary: fc.uint8Array({ maxLength: 80 }).map((payload): Hello => ({ kind: "garbage", payload })), weight: 1 },
  {
    arbitrary: mutationsOf(["version", "nonce"], 2).map(
      (m): Hello => ({ kind: "mutated", body: applyMutations({ version: 1, nonce: "n" }, m) }),
    ),
    weight: 1,
  },
);

export const scenarioArb: fc.Arbitrary<Scenario> = fc.constantFrom(...METHOD_NAMES).chain((method) =>
  fc.record({
    method: fc.constant(method),
    hello: helloArb,
    before: fc.oneof(
      { arbitrary: fc.constant<{ bytes: Bytes; valid: boolean }[]>([]), weight: 3 },
      { arbitrary: fc.array(validEvent, { minLength: 1, maxLength: 3 }), weight: 2 },
      { arbitrary: fc.array(guestNoise, { minLength: 1, maxLength: 4 }), weight: 3 },
    ),
    reply: replyArb(method),
  }),
);

function concat(parts: Bytes[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** The hostile guest: a raw frame speaker on the VM's end of the channel. */
function hostileGuest(t: Transport, s: Scenario): void {
  const write = (b: Bytes) => void t.write(b).catch(() => {});
  const dec = new FrameDecoder(
    (f) => {
      if (f.type === FrameType.HELLO) {
        let nonce = "";
        try {
          nonce = String((decodeJson(f.payload) as { nonce?: unknown }).nonce ?? "");
        } catch {}
        const h = s.hello;
        if (h.kind === "ok") write(frame(FrameType.HELLO, 0, encodeJson({ version: 1, nonce })));
        else if (h.kind === "version") write(frame(FrameType.HELLO, 0, encodeJson({ version: h.version, nonce })));
        else if (h.kind === "garbage") write(frame(FrameType.HELLO, 0, h.payload));
        else write(frame(FrameType.HELLO, 0, json(h.body)));
        return;
      }
      if (f.type !== FrameType.REQUEST) return;
      for (const n of s.before) write(n.bytes);
      const r = s.reply;
      switch (r.kind) {
        case "valid":
          return write(frame(FrameType.RESPONSE, f.id, encodeJson(SAMPLE_RESPONSES[s.method])));
        case "mutated":
          return write(frame(FrameType.RESPONSE, f.id, json(r.body)));
        case "error":
          return write(frame(FrameType.ERROR, f.id, json(r.body)));
        case "bytes":
          return write(frame(r.type, f.id, r.payload));
        case "wrongId":
          return write(frame(FrameType.RESPONSE, (f.id + r.delta) >>> 0, encodeJson(SAMPLE_RESPONSES[s.method])));
        case "oversized":
          return write(concat([liarHeader(FrameType.RESPONSE, r.length), new Uint8Array(4096)]));
        case "none":
          return;
      }
    },
    () => {},
  );
  t.start({ data: (c) => dec.push(c), close: () => {} });
}

export interface Outcome {
  ok: boolean;
  why?: string;
}

/** Run one scenario end to end; `ok` false with the reason when a property broke. */
export async function runScenario(s: Scenario): Promise<Outcome> {
  const guest = createGuestChannel("fuzz-guest");
  const router = createAgentRouter({ guest, monitorMethods: {}, onMonitorCall: async () => ({}) });
  const [hostEnd, vmEnd] = memoryPair();
  hostileGuest(vmEnd, s);
  guest.attach(hostEnd);
  const [clientEnd, routerEnd] = memoryPair();
  router.addTransport(routerEnd, "fuzz-client");
  const client = await agentOverTransport(clientEnd, { name: "fuzz-client", timeoutMs: 2000 });
  const events: [string, unknown][] = [];
  client.channel.onAnyEvent((e, p) => events.push([e, p]));
  // A correct guest (valid handshake, valid events, a valid reply) must get its answer through.
  const honest = s.hello.kind === "ok" && s.before.every((b) => b.valid) && s.reply.kind === "valid";
  const timeoutMs = honest ? HONEST_TIMEOUT_MS : CALL_TIMEOUT_MS;
  const started = performance.now();
  let outcome: Outcome = { ok: true };
  try {
    let value: unknown;
    let error: unknown;
    let settled = false;
    try {
      value = await client.call(s.method, SAMPLE_REQUESTS[s.method] as never, { timeoutMs });
      settled = true;
    } catch (e) {
      error = e;
    }
    const ms = performance.now() - started;
    if (ms > timeoutMs + 2000) return (outcome = { ok: false, why: `call took ${Math.round(ms)} ms` });
    if (settled) {
      if (!v.safeParse(METHODS[s.method].response, value).success)
        return (outcome = { ok: false, why: `invalid ${s.method} response reached the client: ${JSON.stringify(value)}` });
    } else {
      if (!(error instanceof HuskError)) return (outcome = { ok: false, why: `not a HuskError: ${String(error)}` });
      if (!(ERROR_CODES as readonly string[]).includes(error.code)) return (outcome = { ok: false, why: `unknown code ${error.code}` });
      if (!error.message || error.message.length > 8192)
        return (outcome = { ok: false, why: `unclear message (${error.message.length} chars)` });
    }
    if (honest && (!settled || JSON.stringify(value) !== JSON.stringify(SAMPLE_RESPONSES[s.method]))) {
      return (outcome = { ok: false, why: `an honest guest's ${s.method} reply was lost: ${String(error)}` });
    }
    for (const [e, p] of events) {
      const schema = (EVENTS as Record<string, v.GenericSchema>)[e];
      if (!schema || !v.safeParse(schema, p).success)
        return (outcome = { ok: false, why: `invalid event reached the client: ${e} ${JSON.stringify(p)}` });
    }
    await Bun.sleep(1);
    if (client.channel.pendingCount !== 0)
      return (outcome = { ok: false, why: `${client.channel.pendingCount} calls still pending in the client` });
    return outcome;
  } finally {
    await client.close();
    await router.close();
    await guest.close();
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function guestProperties(): Record<string, fc.IAsyncProperty<any>> {
  return {
    "every reply, event and frame a hostile guest sends: the host's call settles with a schema-valid value or a HuskError; only valid events pass":
      fc.asyncProperty(scenarioArb, async (s) => {
        const r = await runScenario(s);
        if (!r.ok) throw new Error(r.why);
        return true;
      }),
  };
}
