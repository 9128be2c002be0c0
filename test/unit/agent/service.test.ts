import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentOverTransport, type AgentClient } from "../../../src/agent/client.ts";
import { AgentService, type GuestSystem } from "../../../src/agent/server/service.ts";
import { memoryPair } from "../../../src/agent/transport/memory.ts";
import { FakeRuntime } from "./fake-runtime.ts";
import { bytes, readAll, serverChannel, sleep } from "./helpers.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const user = { uid: 0, gid: 0 };
function spec(args: string[], terminal = false) {
  return { ociVersion: "1.0.2", root: { path: "/rootfs" }, process: { args, cwd: "/", user, terminal } };
}

async function setup(): Promise<{
  agent: AgentClient;
  runtime: FakeRuntime;
  commands: string[][];
  stateDir: string;
  powered: () => boolean;
}> {
  const stateDir = mkdtempSync(join(tmpdir(), "husk-agent-svc-"));
  const runtime = new FakeRuntime();
  const commands: string[][] = [];
  let powered = false;
  const system: GuestSystem = {
    run: async (argv) => void commands.push(argv),
    powerOff: async () => void (powered = true),
    cloneInit: async () => {},
  };
  const service = new AgentService({ runtime, system, stateDir, exitDrainMs: 1000 });
  const server = serverChannel(service.handler);
  service.setChannel(server);
  const [a, b] = memoryPair();
  server.attach(b);
  const agent = await agentOverTransport(a);
  cleanups.push(() => rmSync(stateDir, { recursive: true, force: true }));
  cleanups.push(() => service.stop());
  cleanups.push(() => server.close());
  cleanups.push(() => agent.close());
  cleanups.push(async () => {
    for (const [, p] of runtime.procs) if (p.proc.exitCode === null) p.proc.kill(9);
  });
  return { agent, runtime, commands, stateDir, powered: () => powered };
}

describe("guest agent service (fake runtime)", () => {
  test("create/start a container: stdout, stderr, exit code 3 by event and by wait", async () => {
    const { agent, runtime, stateDir } = await setup();
    const { stdio, streams } = agent.openStdio({ terminal: false, stdin: false, stdout: true, stderr: true });
    const exitEvent = new Promise((r) => agent.on("processExit", r));
    const { pid } = await agent.call("createContainer", {
      containerId: "c1",
      spec: spec(["sh", "-c", "echo out; echo err >&2; exit 3"]),
      stdio,
    });
    expect(pid).toBeGreaterThan(0);
    expect(existsSync(join(stateDir, "bundles/c1/config.json"))).toBe(true);
    await agent.call("startContainer", { containerId: "c1" });
    const [out, err] = await Promise.all([readAll(streams.stdout!), readAll(streams.stderr!)]);
    expect(out).toBe("out\n");
    expect(err).toBe("err\n");
    expect(await exitEvent).toEqual({ containerId: "c1", exitCode: 3 });
    expect(await agent.call("waitProcess", { containerId: "c1" })).toEqual({ exitCode: 3 });
    await agent.call("removeContainer", { containerId: "c1" });
    expect(existsSync(join(stateDir, "bundles/c1"))).toBe(false);
    expect(runtime.calls).toEqual(["create c1", "start c1", "delete c1"]);
    const gone = await agent.call("startContainer", { containerId: "c1" }).catch((e) => e);
    expect(gone.code).toBe("E_NOT_FOUND");
  });

  test("exec with stdin streamed in and out; writeStdin; closeStdin", async () => {
    const { agent } = await setup();
    await agent.call("createContainer", { containerId: "c1", spec: spec(["sleep", "30"]), stdio: { terminal: false } });
    await agent.call("startContainer", { containerId: "c1" });
    const io = agent.openStdio({ terminal: false, stdin: true, stdout: true, stderr: false });
    await agent.call("exec", { containerId: "c1", execId: "cat", process: { args: ["cat"], cwd: "/", user }, stdio: io.stdio });
    const w = io.streams.stdin!.getWriter();
    await w.write(bytes("one "));
    await w.close();
    expect(await readAll(io.streams.stdout!)).toBe("one ");
    expect(await agent.call("waitProcess", { containerId: "c1", execId: "cat" })).toEqual({ exitCode: 0 });

    const io2 = agent.openStdio({ terminal: false, stdin: true, stdout: true, stderr: false });
    await agent.call("exec", { containerId: "c1", execId: "cat2", process: { args: ["cat"], cwd: "/", user }, stdio: io2.stdio });
    const res = await agent.call("writeStdin", { containerId: "c1", execId: "cat2", data: Buffer.from("b64 data").toString("base64") });
    expect(res.written).toBe(8);
    await agent.call("closeStdin", { containerId: "c1", execId: "cat2" });
    expect(await readAll(io2.streams.stdout!)).toBe("b64 data");
    const dup = await agent
      .call("exec", { containerId: "c1", execId: "cat2", process: { args: ["true"], cwd: "/", user }, stdio: { terminal: false } })
      .catch((e) => e);
    expect(dup.code).toBe("E_ALREADY_EXISTS");
  });

  test("signals: SIGTERM to the init reports 143 with the signal; remove refuses a running container", async () => {
    const { agent, runtime } = await setup();
    await agent.call("createContainer", { containerId: "c2", spec: spec(["sleep", "30"]), stdio: { terminal: false } });
    await agent.call("startContainer", { containerId: "c2" });
    await sleep(50);
    const busy = await agent.call("removeContainer", { containerId: "c2" }).catch((e) => e);
    expect(busy.code).toBe("E_INVALID_STATE");
    const list = await agent.call("listProcesses", { containerId: "c2" });
    expect(list.processes.length).toBe(1);
    expect(list.processes[0]!.command).toContain("sleep 30");
    await agent.call("signalProcess", { containerId: "c2", signal: 15 });
    expect(await agent.call("waitProcess", { containerId: "c2" })).toEqual({ exitCode: 143, signal: 15 });
    expect(runtime.calls).toContain("kill c2 15");
    const again = await agent.call("signalProcess", { containerId: "c2", signal: 9 }).catch((e) => e);
    expect(again.code).toBe("E_INVALID_STATE");
    // --all after the init exited reaches what is left in the container's cgroup, as runc's kill --all.
    await agent.call("signalProcess", { containerId: "c2", signal: 9, all: true });
    expect(runtime.calls).toContain("kill c2 9 all");
  });

  test("a terminal: the pty comes over the console socket, gets its size, and resizes", async () => {
    const { agent } = await setup();
    await agent.call("createContainer", { containerId: "t1", spec: spec(["sleep", "30"]), stdio: { terminal: false } });
    const io = agent.openStdio({ terminal: true, stdin: true, stdout: true, stderr: true, rows: 24, cols: 80 });
    expect(io.stdio.stderr).toBeUndefined();
    await agent.call("exec", {
      containerId: "t1",
      execId: "tty",
      process: { args: ["sh", "-c", "stty size; read x; stty size"], cwd: "/", user },
      stdio: io.stdio,
    });
    const reader = io.streams.stdout!.getReader();
    let text = "";
    while (!text.includes("24 80")) text += new TextDecoder().decode((await reader.read()).value);
    await agent.call("resizeTty", { containerId: "t1", execId: "tty", rows: 50, cols: 132 });
    const w = io.streams.stdin!.getWriter();
    await w.write(bytes("go\n"));
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      text += new TextDecoder().decode(r.value);
    }
    expect(text).toContain("50 132");
    expect(await agent.call("waitProcess", { containerId: "t1", execId: "tty" })).toEqual({ exitCode: 0 });
  });

  test("pause/resume, update, network and shutdown go to the runtime and system", async () => {
    const { agent, runtime, commands, powered } = await setup();
    await agent.call("createContainer", { containerId: "c3", spec: spec(["sleep", "30"]), stdio: { terminal: false } });
    await agent.call("pauseContainer", { containerId: "c3" });
    await agent.call("resumeContainer", { containerId: "c3" });
    await agent.call("updateContainer", { containerId: "c3", resources: { pids: { limit: 10 } } });
    expect(runtime.calls.slice(1)).toEqual(["pause c3", "resume c3", 'update c3 {"pids":{"limit":10}}']);
    await agent.call("updateInterfaces", {
      interfaces: [{ name: "eth0", mtu: 1500, addresses: [{ address: "10.0.0.2", prefixLength: 24 }] }],
    });
    await agent.call("updateRoutes", { routes: [{ destination: "default", gateway: "10.0.0.1", device: "eth0" }] });
    expect(commands).toContainEqual(["ip", "addr", "add", "10.0.0.2/24", "dev", "eth0"]);
    expect(commands.at(-1)).toEqual(["ip", "route", "replace", "default", "via", "10.0.0.1", "dev", "eth0"]);
    const details = await agent.call("guestDetails", {});
    expect(details.cpus).toBeGreaterThan(0);
    expect(details.memTotalKiB).toBeGreaterThan(0);
    expect((await agent.call("version", {})).protocolVersion).toBe(1);
    await agent.call("shutdown", {});
    await sleep(100);
    expect(powered()).toBe(true);
  });

  test("a failed create leaves nothing behind", async () => {
    const { agent, runtime, stateDir } = await setup();
    runtime.create = async () => {
      throw new Error("crun: boom");
    };
    const io = agent.openStdio({ terminal: false, stdin: true, stdout: true, stderr: true });
    const err = await agent.call("createContainer", { containerId: "bad", spec: spec(["true"]), stdio: io.stdio }).catch((e) => e);
    expect(err.message).toContain("boom");
    expect(existsSync(join(stateDir, "bundles/bad"))).toBe(false);
    await expect(readAll(io.streams.stdout!)).rejects.toThrow();
    expect(agent.channel.streamCount).toBe(0);
  });
});
