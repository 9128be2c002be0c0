import { afterEach, describe, expect, test } from "bun:test";
import { agentOverTransport } from "../../../src/agent/client.ts";
import { memoryPair } from "../../../src/agent/transport/memory.ts";
import type { Channel } from "../../../src/agent/wire/channel.ts";
import { encodeCredit, encodeFrame, encodeJson, FrameType } from "../../../src/agent/wire/frame.ts";
import type { DataStream } from "../../../src/agent/wire/stream.ts";
import { bytes, rawPeer, serverChannel, sleep } from "./helpers.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const WINDOW = 4096;
const user = { uid: 0, gid: 0 };

/** Client + server with a small window; the server attaches exec's stdin and stdout and hands them to the test. */
async function setup() {
  let attached: { stdin?: DataStream; stdout?: DataStream } = {};
  const server: Channel = serverChannel(
    async (_m, req, ctx) => {
      const r = req as { stdio: { stdin?: number; stdout?: number } };
      attached = {
        stdin: r.stdio.stdin !== undefined ? ctx.channel.attachStream(r.stdio.stdin, { read: true, write: false }) : undefined,
        stdout: r.stdio.stdout !== undefined ? ctx.channel.attachStream(r.stdio.stdout, { read: false, write: true }) : undefined,
      };
      return { pid: 1 };
    },
    {},
    WINDOW,
  );
  const [a, b] = memoryPair();
  server.attach(b);
  const agent = await agentOverTransport(a, { windowBytes: WINDOW });
  cleanups.push(
    () => agent.close(),
    () => server.close(),
  );
  const io = agent.openStdio({ terminal: false, stdin: true, stdout: true, stderr: false });
  await agent.call("exec", { containerId: "c", execId: "e", process: { args: ["x"], cwd: "/", user }, stdio: io.stdio });
  return { agent, server, io, guest: () => attached };
}

describe("flow control", () => {
  test("a writer blocks when the window is used up and resumes on credit", async () => {
    const { io, guest } = await setup();
    const w = io.streams.stdin!.getWriter();
    const big = new Uint8Array(WINDOW * 4).map((_, i) => i & 0xff);
    let done = false;
    const writing = w.write(big).then(() => (done = true));
    await sleep(30);
    expect(done).toBe(false);
    // The receiver holds at most one window, however much the writer wants to send.
    expect(guest().stdin!.bufferedBytes).toBe(WINDOW);
    const reader = guest().stdin!.readable!.getReader();
    const got: number[] = [];
    while (got.length < big.length) {
      const r = await reader.read();
      got.push(...r.value!);
      expect(guest().stdin!.bufferedBytes).toBeLessThanOrEqual(WINDOW);
    }
    await writing;
    expect(done).toBe(true);
    expect(Buffer.from(got).equals(Buffer.from(big))).toBe(true);
  });

  test("the same holds guest→host: an unread stdout stalls the guest's writer", async () => {
    const { io, guest, agent } = await setup();
    const w = guest().stdout!.writable!.getWriter();
    let written = 0;
    const pump = (async () => {
      for (let i = 0; i < 16; i++) {
        await w.write(new Uint8Array(1024));
        written += 1024;
      }
      await w.close();
    })();
    await sleep(30);
    expect(written).toBeLessThanOrEqual(WINDOW + 1024);
    expect(written).toBeGreaterThan(0);
    const all = await new Response(io.streams.stdout).arrayBuffer();
    await pump;
    expect(all.byteLength).toBe(16 * 1024);
    await sleep(5);
    expect(agent.channel.streamCount).toBe(1); // only stdin (still open) is left
  });

  test("half-close: closing stdin ends the guest's reader while stdout stays open", async () => {
    const { io, guest } = await setup();
    const w = io.streams.stdin!.getWriter();
    await w.write(bytes("last words"));
    await w.close();
    expect(await new Response(guest().stdin!.readable).text()).toBe("last words");
    const out = guest().stdout!.writable!.getWriter();
    await out.write(bytes("still here"));
    await out.close();
    expect(await new Response(io.streams.stdout).text()).toBe("still here");
  });

  test("cancelling a reader resets the stream: the peer's writer fails instead of blocking forever", async () => {
    const { io, guest } = await setup();
    await io.streams.stdout!.cancel();
    const w = guest().stdout!.writable!.getWriter();
    let failed = false;
    for (let i = 0; i < 10 && !failed; i++) {
      await w.write(new Uint8Array(2048)).catch(() => (failed = true));
      await sleep(5);
    }
    expect(failed).toBe(true);
  });
});

describe("a misbehaving peer", () => {
  async function clientWithRaw() {
    const [a, b] = memoryPair();
    const peer = rawPeer(b, (f, send) => {
      if (f.type === FrameType.REQUEST) {
        const body = JSON.parse(new TextDecoder().decode(f.payload));
        if (body.method === "version") send(FrameType.RESPONSE, f.id, encodeJson({ agentVersion: "raw", commit: "x", protocolVersion: 1 }));
        else send(FrameType.RESPONSE, f.id, encodeJson({ pid: 5 }));
      }
    });
    const agent = await agentOverTransport(a, { windowBytes: WINDOW });
    cleanups.push(() => agent.close());
    return { agent, peer };
  }

  test("data beyond the granted credit resets that stream only", async () => {
    const { agent, peer } = await clientWithRaw();
    const io = agent.openStdio({ terminal: false, stdin: false, stdout: true, stderr: false });
    await agent.call("exec", { containerId: "c", execId: "e", process: { args: ["x"], cwd: "/", user }, stdio: io.stdio });
    peer.send(FrameType.DATA, io.stdio.stdout!, new Uint8Array(WINDOW + 1));
    await expect(new Response(io.streams.stdout).text()).rejects.toThrow(/credit/);
    await sleep(5);
    expect(peer.frames.some((f) => f.type === FrameType.RESET && f.id === io.stdio.stdout)).toBe(true);
    expect((await agent.call("version", {})).agentVersion).toBe("raw");
  });

  test("data for an unknown stream is answered with RESET, nothing buffered", async () => {
    const { agent, peer } = await clientWithRaw();
    peer.send(FrameType.DATA, 77, new Uint8Array(100));
    await sleep(5);
    expect(peer.frames.some((f) => f.type === FrameType.RESET && f.id === 77)).toBe(true);
    expect(agent.channel.streamCount).toBe(0);
    expect((await agent.call("version", {})).agentVersion).toBe("raw");
  });

  test("a reply to a request never sent, an oversized frame, or garbage: the channel resets, nothing throws", async () => {
    for (const bad of [
      encodeFrame(FrameType.RESPONSE, 999, encodeJson({})),
      (() => {
        const h = encodeFrame(FrameType.DATA, 1, new Uint8Array(0));
        new DataView(h.buffer).setUint32(8, 2 * 1024 * 1024);
        return h;
      })(),
      new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
      encodeFrame(FrameType.EVENT, 0, bytes("{not json")),
      encodeFrame(FrameType.CREDIT, 3, new Uint8Array(7)),
    ]) {
      const [a, b] = memoryPair();
      rawPeer(b, () => {});
      const agent = await agentOverTransport(a);
      cleanups.push(() => agent.close());
      const closed = new Promise<Error | undefined>((r) => agent.onClose(r));
      const pending = agent.call("waitProcess", { containerId: "c" }).catch((e) => e);
      await sleep(5);
      await b.write(bad);
      const err = await closed;
      expect(err?.message).toBeDefined();
      expect((await pending).code).toBe("E_PROTOCOL");
    }
  });

  test("credit for streams that never open is bounded", async () => {
    const { agent, peer } = await clientWithRaw();
    const closed = new Promise<Error | undefined>((r) => agent.onClose(r));
    for (let id = 2; id < 2 + 2 * 1100; id += 2) peer.send(FrameType.CREDIT, id, encodeCredit(1));
    expect((await closed)?.message).toMatch(/too many unknown streams/);
  });
});

describe("fuzzing a live channel", () => {
  test("random and mutated frames into the guest side: never throws, keeps no backlog, serves a fresh session after", async () => {
    let s = 7;
    const r = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const server = serverChannel(async () => ({ agentVersion: "ok", commit: "c", protocolVersion: 1 }));
    cleanups.push(() => server.close());
    for (let round = 0; round < 20; round++) {
      const [a, b] = memoryPair();
      server.attach(b);
      const hello = encodeFrame(FrameType.HELLO, 0, encodeJson({ version: 1, nonce: `n${round}` }));
      await a.write(hello);
      for (let i = 0; i < 100; i++) {
        const types = Object.values(FrameType);
        const f = encodeFrame(
          types[Math.floor(r() * types.length)]!,
          Math.floor(r() * 10),
          new Uint8Array(Math.floor(r() * 300)).map(() => Math.floor(r() * 256)),
        );
        if (r() < 0.5) f[Math.floor(r() * f.length)] = Math.floor(r() * 256);
        await a.write(f).catch(() => {});
      }
      await sleep(1);
      expect(server.streamCount).toBeLessThan(64);
      a.close();
    }
    // a well-behaved client still gets served
    const [a, b] = memoryPair();
    server.attach(b);
    const agent = await agentOverTransport(a);
    cleanups.push(() => agent.close());
    expect((await agent.call("version", {})).agentVersion).toBe("ok");
  });
});
