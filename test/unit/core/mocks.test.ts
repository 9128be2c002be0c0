import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MockAgent } from "../../../src/agent/mock.ts";
import { buildVmSpec } from "../../../src/core/vmspec.ts";
import { isProcessAlive } from "../../../src/host/proc.ts";
import { parseConfigText } from "../../../src/config/load.ts";
import { MockHypervisor } from "../../../src/hypervisor/mock/index.ts";
import { createHypervisor } from "../../../src/hypervisor/registry.ts";
import { minimalSpec, tempDir } from "./helpers.ts";

/** The mock drivers behave like the real ones where the core can observe it. */

let dir: string;
beforeAll(() => {
  dir = tempDir("husk-mocks-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function vmSpec(name: string) {
  const d = join(dir, name);
  mkdirSync(join(d, "shared"), { recursive: true });
  // The mock checks the spec's files as QEMU's driver does: an empty stand-in kernel.
  writeFileSync(join(d, "vmlinux"), "");
  return buildVmSpec(parseConfigText(`[hypervisor]\nkernel = "${join(d, "vmlinux")}"\ninitrd = ""\n`, "t"), name, d, {});
}

describe("MockHypervisor", () => {
  test("start runs a placeholder VM process; state and calls are shared across instances", async () => {
    const spec = vmSpec("vm1");
    const hv = new MockHypervisor();
    await hv.prepare(spec);
    const { pid } = await hv.start();
    expect(isProcessAlive(pid)).toBe(true);
    expect(await hv.status()).toBe("running");
    // Another "process": attach through the persisted state.
    const other = new MockHypervisor();
    expect(other.attach(spec).pid).toBe(pid);
    await other.pause();
    expect(await hv.status()).toBe("paused");
    await expect(other.pause()).rejects.toMatchObject({ code: "E_HYPERVISOR" });
    await other.resume();
    const waited = hv.wait();
    await other.stop();
    expect((await waited).signal).toBe("SIGKILL");
    expect(isProcessAlive(pid)).toBe(false);
    expect(hv.persisted()?.calls.map((c) => c.method)).toEqual([
      "prepare",
      "start",
      "status",
      "pause",
      "status",
      "pause",
      "resume",
      "wait",
      "stop",
    ]);
    await other.cleanup();
    expect(other.persisted()).toBeUndefined();
  });

  test("scripted failures per method", async () => {
    const hv = new MockHypervisor({ failOn: { prepare: new Error("no kernel") } });
    await expect(hv.prepare(vmSpec("vm2"))).rejects.toThrow("no kernel");
    expect(hv.calls.map((c) => c.method)).toEqual(["prepare"]);
  });

  test("a crashed VM (placeholder killed) reports stopped", async () => {
    const hv = new MockHypervisor();
    await hv.prepare(vmSpec("vm3"));
    const { pid } = await hv.start();
    process.kill(pid, "SIGKILL");
    while (isProcessAlive(pid)) await Bun.sleep(5);
    expect(await hv.status()).toBe("stopped");
    await hv.cleanup();
  });
});

describe("MockAgent", () => {
  const spec = minimalSpec(["/bin/app"]);
  const stdio = { terminal: false };

  test("container and process states, signals, exit events, wait", async () => {
    const agent = new MockAgent();
    const exits: unknown[] = [];
    agent.on("processExit", (e) => exits.push(e));
    const { pid } = await agent.call("createContainer", { containerId: "c", spec, stdio });
    await expect(agent.call("createContainer", { containerId: "c", spec, stdio })).rejects.toMatchObject({ code: "E_ALREADY_EXISTS" });
    // As crun: a created container can be exec'd into.
    await agent.call("exec", { containerId: "c", execId: "e0", process: { ...spec.process!, args: ["true"] }, stdio });
    agent.exitProcess("c", "e0", 0);
    await agent.call("startContainer", { containerId: "c" });
    await agent.call("exec", { containerId: "c", execId: "e", process: { ...spec.process!, args: ["ps"] }, stdio });
    expect((await agent.call("listProcesses", { containerId: "c" })).processes.map((p) => [p.pid === pid, p.command])).toEqual([
      [true, "/bin/app"],
      [false, "ps"],
    ]);
    await agent.call("signalProcess", { containerId: "c", execId: "e", signal: 15 });
    expect(await agent.call("waitProcess", { containerId: "c", execId: "e" })).toEqual({ exitCode: 143, signal: 15 });
    await expect(agent.call("waitProcess", { containerId: "c" }, { timeoutMs: 30 })).rejects.toMatchObject({ code: "E_TIMEOUT" });
    await expect(agent.call("removeContainer", { containerId: "c" })).rejects.toMatchObject({ code: "E_INVALID_STATE" });
    agent.exitProcess("c", undefined, 0);
    expect(await agent.call("waitProcess", { containerId: "c" })).toEqual({ exitCode: 0 });
    await expect(agent.call("exec", { containerId: "c", execId: "e2", process: spec.process!, stdio })).rejects.toMatchObject({
      code: "E_INVALID_STATE",
    });
    await agent.call("removeContainer", { containerId: "c" });
    await Bun.sleep(0);
    expect(exits).toEqual([
      { containerId: "c", execId: "e0", exitCode: 0 },
      { containerId: "c", execId: "e", exitCode: 143, signal: 15 },
      { containerId: "c", exitCode: 0 },
    ]);
  });

  test("requests are validated against the method table", async () => {
    const agent = new MockAgent();
    await expect(agent.call("startContainer", { containerId: "../x" })).rejects.toMatchObject({ code: "E_PROTOCOL" });
    await expect(agent.call("signalProcess", { containerId: "c", signal: 99 })).rejects.toMatchObject({ code: "E_PROTOCOL" });
  });

  test("persisted guest is shared by two agents on one file; failures are scriptable", async () => {
    const file = join(dir, "guest.json");
    const a = new MockAgent({ stateFile: file });
    const b = new MockAgent({ stateFile: file, failOn: { stats: new Error("stats broke") } });
    await a.call("createContainer", { containerId: "c", spec, stdio });
    await b.call("startContainer", { containerId: "c" });
    expect(a.guest().containers.c?.status).toBe("running");
    await expect(b.call("stats", { containerId: "c" })).rejects.toThrow("stats broke");
    expect((await a.call("stats", { containerId: "c" })).pids.current).toBe(1);
  });

  test("stdio: stdin echoes to stdout, injected stderr, streams close at exit", async () => {
    const agent = new MockAgent();
    const { stdio: s, streams } = agent.openStdio({ terminal: false, stdin: true, stdout: true, stderr: true });
    await agent.call("createContainer", { containerId: "c", spec, stdio: s });
    await agent.call("startContainer", { containerId: "c" });
    const w = streams.stdin!.getWriter();
    await w.write(new TextEncoder().encode("hello"));
    agent.emitOutput("c", undefined, "stderr", "oops");
    agent.exitProcess("c", undefined, 0);
    expect(await new Response(streams.stdout).text()).toBe("hello");
    expect(await new Response(streams.stderr).text()).toBe("oops");
  });
});

describe("registry", () => {
  test("mock by name; qemu loads lazily; unknown names refused", async () => {
    expect((await createHypervisor("mock")).name).toBe("mock");
    expect((await createHypervisor("qemu")).name).toBe("qemu");
    await expect(createHypervisor("xen" as "mock")).rejects.toMatchObject({ code: "E_HYPERVISOR" });
  });
});
