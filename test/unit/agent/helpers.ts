import { EVENTS, METHODS } from "../../../src/agent/protocol.ts";
import { Channel, type RequestHandler } from "../../../src/agent/wire/channel.ts";
import type { MethodTable } from "../../../src/agent/wire/table.ts";
import { FrameDecoder } from "../../../src/agent/wire/decoder.ts";
import { decodeJson, encodeFrame, encodeJson, type Frame, FrameType } from "../../../src/agent/wire/frame.ts";
import type { Transport } from "../../../src/agent/wire/transport.ts";

/** A responder channel serving METHODS with the given handler (stands in for the guest agent). */
export function serverChannel(handler: RequestHandler, extra: MethodTable = {}, windowBytes?: number): Channel {
  return new Channel({
    name: "test-server",
    role: "responder",
    local: { methods: { ...METHODS, ...extra }, events: EVENTS, handler },
    windowBytes,
  });
}

export async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(stream).text();
}

export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * A hand-written peer speaking raw frames: answers HELLO (with `version`),
 * passes every other frame to onFrame. For sending what a real channel never would.
 */
export function rawPeer(
  t: Transport,
  onFrame: (frame: Frame, send: (type: FrameType, id: number, payload?: Uint8Array) => void) => void,
  version = 1,
): { send: (type: FrameType, id: number, payload?: Uint8Array) => void; frames: Frame[] } {
  const frames: Frame[] = [];
  const send = (type: FrameType, id: number, payload?: Uint8Array) => void t.write(encodeFrame(type, id, payload)).catch(() => {});
  const dec = new FrameDecoder(
    (f) => {
      frames.push(f);
      if (f.type === FrameType.HELLO) {
        const hello = decodeJson(f.payload) as { nonce: string };
        send(FrameType.HELLO, 0, encodeJson({ version, nonce: hello.nonce }));
        return;
      }
      onFrame(f, send);
    },
    () => {},
  );
  t.start({ data: (c) => dec.push(c), close: () => {} });
  return { send, frames };
}
