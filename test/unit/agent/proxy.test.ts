import { afterEach, describe, expect, test } from "bun:test";
import * as v from "valibot";
import { agentOverTransport } from "../../../src/agent/client.ts";
import { createAgentRouter, createGuestChannel, keepGuestConnected } from "../../../src/agent/proxy.ts";
import { memoryPair } from "../../../src/agent/transport/memory.ts";
import type { Channel } from "../../../src/agent/wire/channel.ts";
import type { DataStream } from "../../../src/agent/wire/stream.ts";
import { bytes, readAll, serverChannel, sleep } from "./helpers.ts";

const MONITOR = {
  "monitor.vmStatus": { request: v.strictObject({}), response: v.strictObject({ status: v.picklist(["running", "paused", "stopped"]) }) },
} as const;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const user = { uid: 0, gid: 0 };

async function setup() {
  const guestStreams: DataStream[] = [];
  let guestServer: Channel | undefined;
  const waiters: (() => void)[] = [];
  const handler = async (method: string, req: unknown, ctx: { channel: Channel; signal: AbortSignal }) => {
    switch (method) {
      case "version":
        return { agentVersion: "g", commit: "c", protocolVersion: 1 };
      case "exec": {
        const r = req as { execId: string; stdio: { stdin?: number; stdout?: number } };
        const out = ctx.channel.attachStream(r.stdio.stdout!, { read: false, write: true });
        guestStreams.push(out);
        if (r.stdio.stdin !== undefined) {
          const inp = ctx.channel.attachStream(r.stdio.stdin, { read: true, write: false });
          guestStreams.push(inp);
          void inp.readable!.pipeTo(out.writable!).catch(() => {});
        } else {
          void (async () => {
            const w = out.writable!.getWriter();
            await w.write(bytes(`out-${r.execId}`));
            await w.close();
          })();
        }
        return { pid: 7 };
      }
      case "waitProcess":
        await new Promise<void>((resolve, reject) => {
          waiters.push(resolve);
          ctx.signal.addEventListener("abort", () => reject(new Error("cancelled")));
        });
        return { exitCode: 0 };
      case "signalProcess":
        ctx.channel.emit("processExit", { containerId: "c1", exitCode: 137, signal: 9 });
        return {};
    }
    throw new Error(`unexpected ${method}`);
  };
  const guest = createGuestChannel();
  const keeper = keepGuestConnected(guest, async () => {
    const [h, g] = memoryPair();
    guestServer = serverChannel(handler as never);
    guestServer.attach(g);
    return h;
  });
  let monitorCalls = 0;
  const router = createAgentRouter({
    guest,
    monitorMethods: MONITOR,
    onMonitorCall: async (method) => {
      monitorCalls++;
      expect(method).toBe("monitor.vmStatus");
      return { status: "running" };
    },
  });
  const connect = async () => {
    const [a, b] = memoryPair();
    router.addTransport(b);
    const client = await agentOverTransport(a, { extraMethods: MONITOR });
    cleanups.push(() => client.close());
    return client;
  };
  cleanups.push(async () => {
    keeper.stop();
    await router.close();
    await guest.close();
    await guestServer?.close();
  });
  return { router, guest, connect, guestStreams, waiters, monitorCalls: () => monitorCalls, guestServer: () => guestServer! };
}

describe("agent router", () => {
  test("two clients: calls, streams, monitor methods and events", async () => {
    const s = await setup();
    const c1 = await s.connect();
    const c2 = await s.connect();
    expect(s.router.clientCount).toBe(2);

    const [v1, v2] = await Promise.all([c1.call("version", {}), c2.call("version", {})]);
    expect(v1.agentVersion).toBe("g");
    expect(v2.agentVersion).toBe("g");
    expect(await c2.callExtra("monitor.vmStatus", {})).toEqual({ status: "running" });
    expect(s.monitorCalls()).toBe(1);

    // Both clients allocate the same stream ids; the router keeps them apart.
    const io1 = c1.openStdio({ terminal: false, stdin: false, stdout: true, stderr: false });
    const io2 = c2.openStdio({ terminal: false, stdin: false, stdout: true, stderr: false });
    expect(io1.stdio.stdout).toBe(io2.stdio.stdout!);
    const proc = { args: ["x"], cwd: "/", user };
    await Promise.all([
      c1.call("exec", { containerId: "c1", execId: "a", process: proc, stdio: io1.stdio }),
      c2.call("exec", { containerId: "c1", execId: "b", process: proc, stdio: io2.stdio }),
    ]);
    expect(await readAll(io1.streams.stdout!)).toBe("out-a");
    expect(await readAll(io2.streams.stdout!)).toBe("out-b");

    // Events reach every client, including the monitor's own agent.
    const got: unknown[] = [];
    c1.on("processExit", (e) => got.push(["c1", e.exitCode]));
    c2.on("processExit", (e) => got.push(["c2", e.exitCode]));
    s.router.agent.on("processExit", (e) => got.push(["self", e.exitCode]));
    await c1.call("signalProcess", { containerId: "c1", signal: 9 });
    await sleep(20);
    expect(got).toEqual(
      expect.arrayContaining([
        ["c1", 137],
        ["c2", 137],
        ["self", 137],
      ]),
    );
  });

  test("a client that disconnects has its requests cancelled and streams reset; others continue", async () => {
    const s = await setup();
    const c1 = await s.connect();
    const c2 = await s.connect();
    const io = c1.openStdio({ terminal: false, stdin: true, stdout: true, stderr: false });
    await c1.call("exec", { containerId: "c1", execId: "cat", process: { args: ["cat"], cwd: "/", user }, stdio: io.stdio });
    const w = io.streams.stdin!.getWriter();
    await w.write(bytes("ping"));
    const r = io.streams.stdout!.getReader();
    expect(new TextDecoder().decode((await r.read()).value)).toBe("ping");
    const waiting = c1.call("waitProcess", { containerId: "c1" }).catch((e) => e);
    await sleep(10);
    expect(s.guestServer().streamCount).toBe(2);
    await c1.close();
    await waiting;
    await sleep(30);
    expect(s.guestServer().streamCount).toBe(0);
    expect(s.guest.streamCount).toBe(0);
    expect(s.router.clientCount).toBe(1);
    expect((await c2.call("version", {})).agentVersion).toBe("g");
  });

  test("a stream id the client may not use is refused and nothing leaks", async () => {
    const s = await setup();
    const c1 = await s.connect();
    const io = c1.openStdio({ terminal: false, stdin: true, stdout: false, stderr: false });
    const err = await c1
      .call("exec", {
        containerId: "c1",
        execId: "x",
        process: { args: ["x"], cwd: "/", user },
        stdio: { terminal: false, stdin: io.stdio.stdin, stdout: 2 },
      })
      .catch((e) => e);
    expect(err.code).toBe("E_PROTOCOL");
    expect(err.message).toMatch(/not allocated by the peer/);
    await sleep(10);
    expect(s.guest.streamCount).toBe(0);
    expect(c1.channel.streamCount).toBe(0);
    expect((await c1.call("version", {})).agentVersion).toBe("g");
  });

  test("the monitor's own agent works through the router", async () => {
    const s = await setup();
    expect((await s.router.agent.call("version", {})).protocolVersion).toBe(1);
  });

  test("the guest channel reconnects after a reset", async () => {
    const s = await setup();
    const c1 = await s.connect();
    await c1.call("version", {});
    s.guest.resetSession(new Error("test reset"));
    // keepGuestConnected reconnects and the next call goes through.
    expect((await c1.call("version", {}, { timeoutMs: 5000 })).agentVersion).toBe("g");
  });
});
