import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentOverTransport, type AgentClient } from "../../../src/agent/client.ts";
import { MockAgent } from "../../../src/agent/mock.ts";
import { GUEST_CONSOLE_ID } from "../../../src/agent/protocol.ts";
import { shellEnv } from "../../../src/agent/server/debug-console.ts";
import { AgentService, type GuestSystem } from "../../../src/agent/server/service.ts";
import { memoryPair } from "../../../src/agent/transport/memory.ts";
import { FakeRuntime } from "./fake-runtime.ts";
import { bytes, readAll, serverChannel } from "./helpers.ts";

/**
 * The agent's debug console with its real shell spawner, run on the host
 * (/bin/sh and setsid stand in for the guest's busybox): a terminal whose
 * size follows resizeTty, plain pipes without one, signals and exit status
 * through the same methods as a container's processes.
 */

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<AgentClient> {
  const stateDir = mkdtempSync(join(tmpdir(), "husk-agent-dbg-"));
  const system: GuestSystem = { run: async () => {}, powerOff: async () => {}, cloneInit: async () => {} };
  const service = new AgentService({ runtime: new FakeRuntime(), system, stateDir, exitDrainMs: 1000 });
  const server = serverChannel(service.handler);
  service.setChannel(server);
  const [a, b] = memoryPair();
  server.attach(b);
  const agent = await agentOverTransport(a);
  cleanups.push(() => rmSync(stateDir, { recursive: true, force: true }));
  cleanups.push(() => service.stop());
  cleanups.push(() => server.close());
  cleanups.push(() => agent.close());
  return agent;
}

const ref = (execId: string) => ({ containerId: GUEST_CONSOLE_ID, execId });

describe("agent debug console", () => {
  test("a root shell on a terminal: size, resize, TERM, exit status", async () => {
    const agent = await setup();
    const io = agent.openStdio({ terminal: true, stdin: true, stdout: true, stderr: false, rows: 30, cols: 90 });
    const { pid } = await agent.call("debugConsole", { execId: "dbg1", stdio: io.stdio, env: ["TERM=vt100"] });
    expect(pid).toBeGreaterThan(0);
    const reader = io.streams.stdout!.getReader();
    const w = io.streams.stdin!.getWriter();
    let text = "";
    const until = async (s: string) => {
      while (!text.includes(s)) {
        const r = await reader.read();
        if (r.done) break;
        text += new TextDecoder().decode(r.value);
      }
      return text;
    };
    await w.write(bytes("stty size; echo term=$TERM; tty; echo mark-$((20+1))\n"));
    expect(await until("mark-21")).toContain("30 90");
    expect(text).toContain("term=vt100");
    expect(text).toMatch(/\/dev\/pts\/\d+/);
    await agent.call("resizeTty", { ...ref("dbg1"), rows: 41, cols: 121 });
    await w.write(bytes("stty size; exit 7\n"));
    expect(await until("41 121")).toContain("41 121");
    expect(await agent.call("waitProcess", ref("dbg1"))).toEqual({ exitCode: 7 });
  });

  test("without a terminal: pipes; a signal ends it as 128+signal", async () => {
    const agent = await setup();
    const io = agent.openStdio({ terminal: false, stdin: true, stdout: true, stderr: true });
    await agent.call("debugConsole", { execId: "dbg2", stdio: io.stdio });
    const w = io.streams.stdin!.getWriter();
    await w.write(bytes("echo out-$HOME; echo err >&2; exit 4\n"));
    await w.close();
    const [out, err] = await Promise.all([readAll(io.streams.stdout!), readAll(io.streams.stderr!)]);
    expect(out).toBe("out-/root\n");
    expect(err).toBe("err\n");
    expect(await agent.call("waitProcess", ref("dbg2"))).toEqual({ exitCode: 4 });

    const io3 = agent.openStdio({ terminal: false, stdin: true, stdout: true, stderr: false });
    await agent.call("debugConsole", { execId: "dbg3", stdio: io3.stdio });
    await agent.call("signalProcess", { ...ref("dbg3"), signal: 9 });
    expect(await agent.call("waitProcess", ref("dbg3"))).toEqual({ exitCode: 137, signal: 9 });
  });

  test("ids: a console id used twice, an unknown console, the reserved container id", async () => {
    const agent = await setup();
    await agent.call("debugConsole", { execId: "d", stdio: { terminal: false } });
    expect((await agent.call("debugConsole", { execId: "d", stdio: { terminal: false } }).catch((e) => e)).code).toBe("E_ALREADY_EXISTS");
    expect((await agent.call("waitProcess", ref("nope")).catch((e) => e)).code).toBe("E_NOT_FOUND");
    const spec = { ociVersion: "1.0.2", root: { path: "/rootfs" }, process: { args: ["true"], cwd: "/", user: { uid: 0, gid: 0 } } };
    expect(
      (await agent.call("createContainer", { containerId: GUEST_CONSOLE_ID, spec, stdio: { terminal: false } }).catch((e) => e)).code,
    ).toBe("E_INVALID_ID");
    await agent.call("signalProcess", { ...ref("d"), signal: 9 });
    await agent.call("waitProcess", ref("d"));
  });

  test("shell environment: defaults, the host's TERM over them", () => {
    expect(shellEnv([])).toMatchObject({ HOME: "/root", TERM: "xterm" });
    expect(shellEnv(["TERM=screen", "LANG=C.UTF-8"])).toMatchObject({ TERM: "screen", LANG: "C.UTF-8" });
  });

  test("the mock agent models it the same way", async () => {
    const mock = new MockAgent();
    const { stdio } = mock.openStdio({ terminal: true, stdin: true, stdout: true, stderr: false, rows: 24, cols: 80 });
    const { pid } = await mock.call("debugConsole", { execId: "m1", stdio });
    expect(pid).toBeGreaterThan(0);
    await mock.call("resizeTty", { ...ref("m1"), rows: 10, cols: 10 });
    await mock.call("signalProcess", { ...ref("m1"), signal: 15 });
    expect(await mock.call("waitProcess", ref("m1"))).toEqual({ exitCode: 143, signal: 15 });
    await mock.close();
  });
});
