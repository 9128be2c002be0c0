import { describe, expect, test } from "bun:test";
import { memoryPair } from "../../../src/agent/transport/memory.ts";
import { encodeJson, type Frame, FrameType, frameTypeName } from "../../../src/agent/wire/frame.ts";
import { type FrameSinks, Session } from "../../../src/agent/wire/session.ts";
import { rawPeer, sleep } from "./helpers.ts";

/** The session layer alone (src/agent/wire/session.ts): what it routes where, and when it drops a session. */

function recordingSinks(): { sinks: FrameSinks; got: string[] } {
  const got: string[] = [];
  const name = (f: Frame) => `${frameTypeName(f.type)}:${f.id}`;
  return {
    got,
    sinks: {
      request: (f) => got.push(`request ${name(f)}`),
      reply: (f) => got.push(`reply ${name(f)}`),
      event: (f) => got.push(`event ${name(f)}`),
      cancel: (id) => got.push(`cancel ${id}`),
      stream: (f) => got.push(`stream ${name(f)}`),
      drop: (e) => got.push(`drop ${e.message}`),
    },
  };
}

async function openSession(): Promise<{ session: Session; got: string[]; peer: ReturnType<typeof rawPeer> }> {
  const [a, b] = memoryPair();
  const { sinks, got } = recordingSinks();
  const session = new Session({ name: "s", role: "initiator" }, sinks);
  const peer = rawPeer(b, () => {});
  session.attach(a);
  await session.ready();
  return { session, got, peer };
}

describe("wire session", () => {
  test("an open session routes each frame kind to its sink; stream frames only when the id is not 0", async () => {
    const { session, got, peer } = await openSession();
    peer.send(FrameType.REQUEST, 1, encodeJson({ method: "version", params: {} }));
    peer.send(FrameType.RESPONSE, 2, encodeJson({}));
    peer.send(FrameType.ERROR, 3, encodeJson({ code: "E_AGENT", message: "x" }));
    peer.send(FrameType.EVENT, 0, encodeJson({ event: "oom", payload: {} }));
    peer.send(FrameType.CANCEL, 4);
    for (const t of [FrameType.DATA, FrameType.CREDIT, FrameType.CLOSE, FrameType.RESET]) peer.send(t, 6);
    await sleep(10);
    expect(got).toEqual([
      "request REQUEST:1",
      "reply RESPONSE:2",
      "reply ERROR:3",
      "event EVENT:0",
      "cancel 4",
      "stream DATA:6",
      "stream CREDIT:6",
      "stream CLOSE:6",
      "stream RESET:6",
    ]);
    session.close();
  });

  test("DATA on stream 0 is a violation: the peer gets RESET, the session drops and its end is reported", async () => {
    const { session, got, peer } = await openSession();
    const ended: string[] = [];
    session.onSessionEnd((e) => ended.push(e!.message));
    peer.send(FrameType.DATA, 0, new Uint8Array([1]));
    await sleep(10);
    expect(got).toEqual(["drop s: DATA on stream 0"]);
    expect(ended).toEqual(["s: DATA on stream 0"]);
    expect(peer.frames.some((f) => f.type === FrameType.RESET && f.id === 0)).toBe(true);
    expect(session.isOpen).toBe(false);
    expect(session.isClosed).toBe(false);
  });

  test("a peer's RESET on stream 0 drops the session with its reason; close() drops without reporting a session end", async () => {
    const { session, got, peer } = await openSession();
    const ended: string[] = [];
    session.onSessionEnd((e) => ended.push(e!.message));
    peer.send(FrameType.RESET, 0, encodeJson({ message: "bye" }));
    await sleep(10);
    expect(got).toEqual(["drop s: peer reset the channel: bye"]);
    expect(ended).toEqual(["s: peer reset the channel: bye"]);
    session.close();
    expect(got.length).toBe(2);
    expect(ended.length).toBe(1);
    expect(session.isClosed).toBe(true);
    await expect(session.ready()).rejects.toThrow("s: channel closed");
  });
});
