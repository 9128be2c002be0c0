import { testVmSpec } from "../../support/vm-spec.ts";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HuskError } from "../../../src/host/errors.ts";
import { readPidFile } from "../../../src/hypervisor/qemu/pidfile.ts";
import type { VmSpec } from "../../../src/hypervisor/types.ts";
import { MonitorBackend, forceStopVm } from "../../../src/monitor/backend.ts";
import { readVmState } from "../../../src/monitor/files.ts";
import { isProcessAlive, waitForExit } from "../../../src/host/proc.ts";
import type { FakeOptions } from "./fakes.ts";

/**
 * MonitorBackend + a real detached monitor process (test entry running the
 * real monitor with FakeHypervisor): readiness, error reporting, control
 * methods, agent routing, QEMU death, monitor death, force cleanup.
 */

const root = mkdtempSync(join(tmpdir(), "husk-mon-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const entry = join(import.meta.dir, "fake-monitor-main.ts");

function spec(sid: string, over: Partial<VmSpec> = {}): VmSpec {
  return testVmSpec(join(root, "sandboxes", sid), sid, { kernel: "/img/vmlinux", accelerator: "tcg", bootTimeoutMs: 10_000, ...over });
}

const backend = (fake: FakeOptions = {}, command = [process.execPath, entry]) =>
  new MonitorBackend({ command, stopTimeoutMs: 2000, env: { HUSK_FAKE_HV: JSON.stringify(fake) }, startGraceMs: 10_000 });

async function rejection(p: Promise<unknown>): Promise<HuskError> {
  try {
    await p;
  } catch (e) {
    return e as HuskError;
  }
  throw new Error("expected a rejection");
}

async function until(cond: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await Bun.sleep(25);
  }
  return true;
}

describe("MonitorBackend with a detached monitor process", () => {
  test("boot → agent through the monitor, status/pause/resume, stop leaves nothing", async () => {
    const s = spec("sb-ok");
    const h = await backend().boot(s);
    expect(isProcessAlive(h.pid)).toBe(true);
    expect(readVmState(s.dir)?.state).toBe("running");
    expect(await h.agent.call("version", {})).toEqual({ agentVersion: "fake", commit: "none", protocolVersion: 1 });
    expect(await h.status()).toBe("running");
    await h.pause();
    expect(await h.status()).toBe("paused");
    expect(readVmState(s.dir)?.state).toBe("paused");
    await h.resume();
    expect(await h.status()).toBe("running");

    // A second process attaches to the same monitor concurrently.
    const other = await backend().connect(s);
    expect(other.pid).toBe(h.pid);
    const [a, b] = await Promise.all([h.agent.call("version", {}), other.agent.call("version", {})]);
    expect(a).toEqual(b);
    await other.close();

    const qemu = readPidFile(join(s.dir, "qemu.pid"))!.pid;
    await h.stop();
    expect(isProcessAlive(h.pid)).toBe(false);
    expect(isProcessAlive(qemu)).toBe(false);
    expect(readVmState(s.dir)).toMatchObject({ state: "stopped", reason: "stop" });
    for (const f of ["monitor.sock", "monitor.pid", "agent.sock", "qemu.pid"]) expect(existsSync(join(s.dir, f))).toBe(false);
    expect(readFileSync(join(s.dir, "vm.json"), "utf8")).toContain('"sandboxId": "sb-ok"');
  }, 30_000);

  test("a boot error (missing kernel) reaches the CLI with its code and message; the monitor exits", async () => {
    const s = spec("sb-prep");
    const err = await rejection(backend({ failPrepare: true }).boot(s));
    expect(err.code).toBe("E_HYPERVISOR");
    expect(err.message).toContain("/img/vmlinux");
    expect(readVmState(s.dir)?.state).toBe("failed");
    expect(await until(() => !existsSync(join(s.dir, "monitor.pid")))).toBe(true);
  }, 30_000);

  test("boot timeout: E_BOOT_TIMEOUT with the console tail, VM killed", async () => {
    const s = spec("sb-timeout", { bootTimeoutMs: 1500 });
    const t0 = Date.now();
    const err = await rejection(backend({ noAgent: true }).boot(s));
    expect(err.code).toBe("E_BOOT_TIMEOUT");
    expect(err.message).toContain("fake init started");
    expect(err.message).toContain("1500 ms");
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(existsSync(join(s.dir, "qemu.pid"))).toBe(false);
    expect(existsSync(join(s.dir, "agent.sock"))).toBe(false);
  }, 30_000);

  test("QEMU killed with SIGKILL: monitor records stopped and exits; status says stopped; connect says not running", async () => {
    const s = spec("sb-kill");
    const h = await backend().boot(s);
    const qemu = readPidFile(join(s.dir, "qemu.pid"))!.pid;
    process.kill(qemu, "SIGKILL");
    expect(await waitForExit(h.pid, 5000)).toBe(true);
    const state = readVmState(s.dir);
    expect(state).toMatchObject({ state: "stopped", reason: "exited", exit: { code: null, signal: "SIGKILL" } });
    expect(await h.status()).toBe("stopped");
    const err = await rejection(backend().connect(s));
    expect(err.code).toBe("E_MONITOR");
    expect(err.message).toContain("sandbox monitor is not running");
    expect(existsSync(join(s.dir, "monitor.sock"))).toBe(false);
    await h.close();
  }, 30_000);

  test("monitor killed: clear E_MONITOR errors; forceStopVm kills QEMU and removes the files", async () => {
    const s = spec("sb-monkill");
    const h = await backend().boot(s);
    const qemu = readPidFile(join(s.dir, "qemu.pid"))!.pid;
    process.kill(h.pid, "SIGKILL");
    expect(await waitForExit(h.pid, 5000)).toBe(true);
    const err = await rejection(h.status());
    expect(err.code).toBe("E_MONITOR");
    expect(err.message).toContain("sandbox monitor is not running");
    expect((await rejection(h.stop())).code).toBe("E_MONITOR");
    // stop() already used the force path; run it again: idempotent.
    await forceStopVm(s.dir);
    expect(isProcessAlive(qemu)).toBe(false);
    for (const f of ["monitor.sock", "monitor.pid", "agent.sock", "qemu.pid"]) expect(existsSync(join(s.dir, f))).toBe(false);
  }, 30_000);

  test("SIGTERM to the monitor stops the VM and records it", async () => {
    const s = spec("sb-term");
    const h = await backend().boot(s);
    const qemu = readPidFile(join(s.dir, "qemu.pid"))!.pid;
    process.kill(h.pid, "SIGTERM");
    expect(await waitForExit(h.pid, 10_000)).toBe(true);
    expect(isProcessAlive(qemu)).toBe(false);
    expect(readVmState(s.dir)).toMatchObject({ state: "stopped", reason: "stop" });
    await h.close();
  }, 30_000);

  test("a monitor that dies before reporting: E_MONITOR with its log, no hang", async () => {
    const s = spec("sb-crash");
    const err = await rejection(backend({}, ["/bin/sh", "-c", "echo monitor exploded >&2; exit 3", "x"]).boot(s));
    expect(err.code).toBe("E_MONITOR");
    expect(err.message).toContain("exited during boot");
    expect(err.message).toContain("monitor exploded");
  }, 30_000);

  test("a sandbox dir not under <root>/sandboxes/<sid> is refused", async () => {
    const s = { ...spec("sb-bad"), dir: join(root, "elsewhere") };
    expect((await rejection(backend().boot(s))).code).toBe("E_MONITOR");
  });
});

test("a monitor command that cannot be executed: E_MONITOR", async () => {
  const s = spec("sb-nocmd");
  const err = await rejection(backend({}, ["/nonexistent/husk"]).boot(s));
  expect(err.code).toBe("E_MONITOR");
  expect(err.message).toContain("/nonexistent/husk");
});
