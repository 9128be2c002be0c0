import { afterEach, describe, expect, test } from "bun:test";
import net from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentOverTransport, connectAgent, type AgentClient } from "../../../src/agent/client.ts";
import { memoryPair } from "../../../src/agent/transport/memory.ts";
import { socketTransport } from "../../../src/agent/transport/unix.ts";
import type { Channel } from "../../../src/agent/wire/channel.ts";
import { encodeJson, FrameType } from "../../../src/agent/wire/frame.ts";
import { bytes, rawPeer, readAll, serverChannel, sleep } from "./helpers.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("client over a real unix socket", () => {
  test("handshake, call, stdio streams and events", async () => {
    const dir = mkdtempSync(join(tmpdir(), "husk-agent-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "agent.sock");
    let server: Channel | undefined;
    const srv = net.createServer((sock) => {
      server = serverChannel(async (method, req, ctx) => {
        if (method === "version") return { agentVersion: "test", commit: "abc", protocolVersion: 1 };
        if (method === "exec") {
          const r = req as { stdio: { stdin: number; stdout: number; stderr: number } };
          const stdin = ctx.channel.attachStream(r.stdio.stdin, { read: true, write: false });
          const stdout = ctx.channel.attachStream(r.stdio.stdout, { read: false, write: true });
          const stderr = ctx.channel.attachStream(r.stdio.stderr, { read: false, write: true });
          // echo stdin upper-cased to stdout, then report exit
          void (async () => {
            const text = await readAll(stdin.readable!);
            const w = stdout.writable!.getWriter();
            await w.write(bytes(text.toUpperCase()));
            await w.close();
            const e = stderr.writable!.getWriter();
            await e.write(bytes("warn"));
            await e.close();
            ctx.channel.emit("processExit", { containerId: "c1", execId: "e1", exitCode: 3 });
          })();
          return { pid: 42 };
        }
        throw new Error(`unexpected ${method}`);
      });
      server.attach(socketTransport(sock));
    });
    await new Promise<void>((r) => srv.listen(path, r));
    cleanups.push(() => new Promise((r) => srv.close(() => r(undefined))));

    const agent = await connectAgent(path);
    cleanups.push(() => agent.close());
    expect(await agent.call("version", {})).toEqual({ agentVersion: "test", commit: "abc", protocolVersion: 1 });

    const exited = new Promise((r) => agent.on("processExit", r));
    const { stdio, streams } = agent.openStdio({ terminal: false, stdin: true, stdout: true, stderr: true });
    expect(stdio.stdin! % 2).toBe(1);
    const res = await agent.call("exec", {
      containerId: "c1",
      execId: "e1",
      process: { args: ["cat"], cwd: "/", user: { uid: 0, gid: 0 } },
      stdio,
    });
    expect(res.pid).toBe(42);
    const w = streams.stdin!.getWriter();
    await w.write(bytes("hello "));
    await w.write(bytes("world"));
    await w.close();
    expect(await readAll(streams.stdout!)).toBe("HELLO WORLD");
    expect(await readAll(streams.stderr!)).toBe("warn");
    expect(await exited).toEqual({ containerId: "c1", execId: "e1", exitCode: 3 });
    await sleep(10);
    expect(server!.streamCount).toBe(0);
    expect(agent.channel.streamCount).toBe(0);
  });

  test("connecting to a missing socket is a clear error", async () => {
    await expect(connectAgent("/nonexistent/husk.sock", { timeoutMs: 500 })).rejects.toThrow(/cannot connect/);
  });
});

describe("client over memory transport", () => {
  async function pair(handler: Parameters<typeof serverChannel>[0]): Promise<{ agent: AgentClient; server: Channel }> {
    const [a, b] = memoryPair();
    const server = serverChannel(handler);
    server.attach(b);
    const agent = await agentOverTransport(a);
    cleanups.push(() => agent.close());
    cleanups.push(() => server.close());
    return { agent, server };
  }

  test("agent errors come back typed with their code", async () => {
    const { agent } = await pair(async () => {
      const { NotFoundError } = await import("../../../src/host/errors.ts");
      throw new NotFoundError("no container c9");
    });
    const err = await agent.call("startContainer", { containerId: "c9" }).catch((e) => e);
    expect(err.code).toBe("E_NOT_FOUND");
    expect(err.message).toBe("no container c9");
  });

  test("an invalid request is refused before it is sent", async () => {
    let called = false;
    const { agent } = await pair(async () => {
      called = true;
      return {};
    });
    const err = await agent.call("startContainer", { containerId: "../etc" }).catch((e) => e);
    expect(err.code).toBe("E_PROTOCOL");
    expect(called).toBe(false);
  });

  test("timeouts reject with E_TIMEOUT and cancel the request on the other side", async () => {
    let aborted = false;
    const { agent } = await pair(
      (_m, _r, ctx) =>
        new Promise((_resolve, reject) => {
          ctx.signal.addEventListener("abort", () => {
            aborted = true;
            reject(new Error("aborted"));
          });
        }),
    );
    const err = await agent.call("stats", { containerId: "c1" }, { timeoutMs: 50 }).catch((e) => e);
    expect(err.code).toBe("E_TIMEOUT");
    await sleep(20);
    expect(aborted).toBe(true);
    expect(agent.channel.pendingCount).toBe(0);
  });

  test("an AbortSignal cancels a call", async () => {
    let aborted = false;
    const { agent } = await pair(
      (_m, _r, ctx) =>
        new Promise(() => {
          ctx.signal.addEventListener("abort", () => (aborted = true));
        }),
    );
    const ctl = new AbortController();
    const p = agent.call("waitProcess", { containerId: "c1" }, { signal: ctl.signal });
    await sleep(10);
    ctl.abort();
    await expect(p).rejects.toThrow(/cancelled/);
    await sleep(10);
    expect(aborted).toBe(true);
  });

  test("a response that violates the schema is refused and the channel reset", async () => {
    const [a, b] = memoryPair();
    rawPeer(b, (frame, send) => {
      if (frame.type === FrameType.REQUEST) send(FrameType.RESPONSE, frame.id, encodeJson({ pid: -1 }));
    });
    const agent = await agentOverTransport(a);
    cleanups.push(() => agent.close());
    const closed = new Promise((r) => agent.onClose(r));
    const err = await agent
      .call("exec", {
        containerId: "c1",
        execId: "e",
        process: { args: ["x"], cwd: "/", user: { uid: 0, gid: 0 } },
        stdio: { terminal: false },
      })
      .catch((e) => e);
    expect(err.code).toBe("E_PROTOCOL");
    expect(err.message).toMatch(/invalid exec response/);
    await closed;
    expect(agent.channel.isClosed).toBe(true);
  });

  test("an event that violates the schema resets the channel and reaches no listener", async () => {
    const [a, b] = memoryPair();
    rawPeer(b, (frame, send) => {
      if (frame.type === FrameType.REQUEST) {
        send(FrameType.EVENT, 0, encodeJson({ event: "processExit", payload: { containerId: "c1", exitCode: 999 } }));
      }
    });
    const agent = await agentOverTransport(a);
    cleanups.push(() => agent.close());
    let got = 0;
    agent.on("processExit", () => got++);
    const err = await agent.call("version", {}).catch((e) => e);
    expect(err.code).toBe("E_PROTOCOL");
    expect(got).toBe(0);
  });

  test("a version mismatch is a clear error", async () => {
    const [a, b] = memoryPair();
    rawPeer(b, () => {}, 99);
    const err = await agentOverTransport(a).catch((e) => e);
    expect(err.code).toBe("E_PROTOCOL");
    expect(err.message).toMatch(/version mismatch.*99/);
  });
});
