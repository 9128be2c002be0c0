import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { RequestSchema, ResponseSchema } from "../../../src/shimv2/gen/ttrpc/ttrpc_pb.ts";
import {
  Code,
  encodeFrame,
  FRAME_DATA,
  FRAME_REQUEST,
  FRAME_RESPONSE,
  FrameDecoder,
  MAX_FRAME_BYTES,
  RpcStatus,
  serveTtrpc,
  type TtrpcCallError,
  TtrpcClient,
  type Handler,
  type TtrpcServer,
} from "../../../src/shimv2/ttrpc.ts";
import { NotFoundError, InvalidStateError } from "../../../src/host/errors.ts";

function header(length: number, stream: number, type: number, flags = 0): Uint8Array {
  const b = new Uint8Array(10);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, length);
  dv.setUint32(4, stream);
  b[8] = type;
  b[9] = flags;
  return b;
}

describe("FrameDecoder", () => {
  test("round trip, split at every byte", () => {
    const f = encodeFrame({ streamId: 7, type: FRAME_REQUEST, flags: 0, payload: new Uint8Array([1, 2, 3]) });
    const d = new FrameDecoder();
    const out = [];
    for (const byte of f) out.push(...d.push(new Uint8Array([byte])));
    expect(out).toHaveLength(1);
    expect(out[0]!.streamId).toBe(7);
    expect([...out[0]!.payload]).toEqual([1, 2, 3]);
    expect(d.pending).toBe(0);
  });

  test("two frames in one chunk", () => {
    const a = encodeFrame({ streamId: 1, type: FRAME_RESPONSE, flags: 0, payload: new Uint8Array([9]) });
    const b = encodeFrame({ streamId: 3, type: FRAME_RESPONSE, flags: 0, payload: new Uint8Array(0) });
    const both = new Uint8Array(a.length + b.length);
    both.set(a);
    both.set(b, a.length);
    const frames = new FrameDecoder().push(both);
    expect(frames.map((f) => f.streamId)).toEqual([1, 3]);
  });

  test("an oversized header is refused before its body arrives", () => {
    expect(() => new FrameDecoder().push(header(MAX_FRAME_BYTES + 1, 1, FRAME_REQUEST))).toThrow(/over the 4194304-byte limit/);
    expect(() => new FrameDecoder().push(header(0xffffffff, 1, FRAME_REQUEST))).toThrow(/limit/);
  });

  test("an unknown frame type is refused", () => {
    expect(() => new FrameDecoder().push(header(0, 1, 0))).toThrow(/unknown ttrpc frame type 0/);
    expect(() => new FrameDecoder().push(header(0, 1, 200))).toThrow(/type 200/);
  });

  test("a truncated frame stays pending, bounded by its header", () => {
    const d = new FrameDecoder();
    const f = encodeFrame({ streamId: 1, type: FRAME_REQUEST, flags: 0, payload: new Uint8Array(100) });
    expect(d.push(f.subarray(0, 50))).toEqual([]);
    expect(d.pending).toBe(50);
  });

  test("encodeFrame refuses an oversized payload", () => {
    expect(() => encodeFrame({ streamId: 1, type: FRAME_REQUEST, flags: 0, payload: new Uint8Array(MAX_FRAME_BYTES + 1) })).toThrow(
      /limit/,
    );
  });
});

describe("server and client", () => {
  let dir: string;
  let server: TtrpcServer;
  const handlers = new Map<string, Handler>([
    ["t.S/Echo", async (p) => p],
    ["t.S/Missing", async () => Promise.reject(new NotFoundError("container x not found"))],
    ["t.S/State", async () => Promise.reject(new InvalidStateError("it is stopped"))],
    ["t.S/Status", async () => Promise.reject(new RpcStatus(Code.Unimplemented, "checkpoint is not supported"))],
    ["t.S/Slow", async (p) => Bun.sleep(50).then(() => p)],
  ]);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "ttrpc-"));
    server = serveTtrpc(join(dir, "s"), handlers);
  });
  afterEach(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("unary calls, concurrent, answered on their own streams", async () => {
    const c = await TtrpcClient.connect(`unix://${server.path}`);
    const [a, b] = await Promise.all([c.call("t.S", "Slow", new Uint8Array([1])), c.call("t.S", "Echo", new Uint8Array([2, 2]))]);
    expect([...a]).toEqual([1]);
    expect([...b]).toEqual([2, 2]);
    c.close();
  });

  test("errors become gRPC codes", async () => {
    const c = await TtrpcClient.connect(server.path);
    const codeOf = (p: Promise<unknown>) =>
      p.then(
        () => -1,
        (e: TtrpcCallError) => e.grpcCode,
      );
    expect(await codeOf(c.call("t.S", "Missing", new Uint8Array()))).toBe(Code.NotFound);
    expect(await codeOf(c.call("t.S", "State", new Uint8Array()))).toBe(Code.FailedPrecondition);
    expect(await codeOf(c.call("t.S", "Status", new Uint8Array()))).toBe(Code.Unimplemented);
    expect(await codeOf(c.call("t.S", "Nope", new Uint8Array()))).toBe(Code.Unimplemented);
    c.close();
  });

  /** A raw peer: write bytes, collect what comes back until the server closes or the time is up. */
  async function rawPeer(bytes: Uint8Array[], waitMs = 300): Promise<{ closed: boolean; received: Uint8Array }> {
    let closed = false;
    const got: Uint8Array[] = [];
    const sock = await Bun.connect({
      unix: server.path,
      socket: {
        data(_s, d) {
          got.push(new Uint8Array(d));
        },
        close() {
          closed = true;
        },
      },
    });
    for (const b of bytes) sock.write(b);
    const deadline = Date.now() + waitMs;
    while (!closed && Date.now() < deadline) await Bun.sleep(10);
    const result = { closed, received: Buffer.concat(got) };
    sock.end();
    return result;
  }

  test("hostile: an oversized frame header closes the connection", async () => {
    const r = await rawPeer([header(MAX_FRAME_BYTES + 1, 1, FRAME_REQUEST)]);
    expect(r.closed).toBe(true);
    expect(r.received.length).toBe(0);
  });

  test("hostile: garbage closes the connection; the server keeps serving others", async () => {
    const r = await rawPeer([crypto.getRandomValues(new Uint8Array(64)).map((x, i) => (i === 8 ? 9 : x))]);
    expect(r.closed).toBe(true);
    const c = await TtrpcClient.connect(server.path);
    expect([...(await c.call("t.S", "Echo", new Uint8Array([5])))]).toEqual([5]);
    c.close();
  });

  test("hostile: a payload that is not a Request closes the connection", async () => {
    const junk = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff]);
    const r = await rawPeer([encodeFrame({ streamId: 1, type: FRAME_REQUEST, flags: 0, payload: junk })]);
    expect(r.closed).toBe(true);
  });

  test("hostile: data frames and responses from a client are refused", async () => {
    expect((await rawPeer([encodeFrame({ streamId: 1, type: FRAME_DATA, flags: 0, payload: new Uint8Array(1) })])).closed).toBe(true);
    expect((await rawPeer([encodeFrame({ streamId: 1, type: FRAME_RESPONSE, flags: 0, payload: new Uint8Array(0) })])).closed).toBe(true);
  });

  test("hostile: a truncated frame gets no answer and holds only its bytes", async () => {
    const req = toBinary(RequestSchema, create(RequestSchema, { service: "t.S", method: "Echo", payload: new Uint8Array([1]) }));
    const f = encodeFrame({ streamId: 1, type: FRAME_REQUEST, flags: 0, payload: req });
    const r = await rawPeer([f.subarray(0, f.length - 2)], 200);
    expect(r.closed).toBe(false);
    expect(r.received.length).toBe(0);
  });

  test("a well-formed raw request is answered on its stream id", async () => {
    const req = toBinary(RequestSchema, create(RequestSchema, { service: "t.S", method: "Echo", payload: new Uint8Array([4, 2]) }));
    const r = await rawPeer([encodeFrame({ streamId: 41, type: FRAME_REQUEST, flags: 0, payload: req })], 200);
    const [frame] = new FrameDecoder().push(r.received);
    expect(frame!.streamId).toBe(41);
    expect(frame!.type).toBe(FRAME_RESPONSE);
    expect([...fromBinary(ResponseSchema, frame!.payload).payload]).toEqual([4, 2]);
  });

  test("hostile server: the client fails its calls on garbage instead of hanging", async () => {
    const path = join(dir, "evil");
    const evil = Bun.listen({
      unix: path,
      socket: {
        data(s) {
          s.write(header(MAX_FRAME_BYTES + 10, 1, FRAME_RESPONSE));
        },
      },
    });
    const c = await TtrpcClient.connect(path);
    await expect(c.call("t.S", "Echo", new Uint8Array(), 2000)).rejects.toThrow(/limit/);
    evil.stop(true);
  });

  test("client times out a call that is never answered", async () => {
    const path = join(dir, "mute");
    const mute = Bun.listen({ unix: path, socket: { data() {} } });
    const c = await TtrpcClient.connect(path);
    await expect(c.call("t.S", "Echo", new Uint8Array(), 100)).rejects.toThrow(/did not answer within 100 ms/);
    c.close();
    mute.stop(true);
  });
});
