import { testVmSpec } from "../../support/vm-spec.ts";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readImageManifest, type ImageManifest } from "../../../src/image/manifest.ts";
import { readPidFile } from "../../../src/hypervisor/qemu/pidfile.ts";
import type { VmSpec } from "../../../src/hypervisor/types.ts";
import { MonitorBackend } from "../../../src/monitor/backend.ts";
import { readVmState } from "../../../src/monitor/files.ts";
import { isProcessAlive, waitForExit } from "../../../src/host/proc.ts";
import { IMAGE_DIR, qemuPath } from "./fixture.ts";

/**
 * The real guest image (kernel + initramfs + husk agent from `husk image
 * build`) booted by the real monitor through the real CLI entry: the agent
 * answers through monitor.sock. One VM, shared by the tests in order.
 */

let manifest: ImageManifest | undefined;
try {
  manifest = await readImageManifest(IMAGE_DIR);
} catch {
  manifest = undefined;
}
const skip = !qemuPath()
  ? "qemu-system-x86_64 not on PATH"
  : !manifest
    ? `no guest image in ${IMAGE_DIR} (run \`husk image build\`)`
    : undefined;
if (skip) console.warn(`SKIP guest image VM tests: ${skip}`);

const root = mkdtempSync(join(tmpdir(), "husk-imgvm-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function spec(sid: string): VmSpec {
  const m = manifest!;
  return testVmSpec(join(root, "sandboxes", sid), sid, {
    kernel: join(IMAGE_DIR, m.kernel.path),
    ...(m.initrd ? { initrd: join(IMAGE_DIR, m.initrd.path) } : {}),
    ...(m.agentDir ? { agentDir: join(IMAGE_DIR, m.agentDir) } : {}),
    machine: m.machine,
    memoryMiB: 512,
    kernelParams: [], // the driver adds the manifest's
    bootTimeoutMs: 120_000,
  });
}

describe.skipIf(!!skip)("guest image in a real VM", () => {
  test("boot to agent, version and guest details through monitor.sock, pause/resume, stop", async () => {
    const s = spec("img1");
    const backend = new MonitorBackend({ stopTimeoutMs: 10_000 });
    const t0 = performance.now();
    const h = await backend.boot(s);
    console.info(
      `guest image boot to agent handshake (${manifest!.kernel.kind} ${manifest!.kernel.format}, ${s.machine}): ${Math.round(performance.now() - t0)} ms`,
    );
    const version = await h.agent.call("version", {});
    expect(version.protocolVersion).toBe(1);
    const details = await h.agent.call("guestDetails", {});
    expect(details.cpus).toBe(1);
    expect(details.memTotalKiB).toBeGreaterThan(100_000);
    await h.pause();
    expect(await h.status()).toBe("paused");
    await h.resume();
    expect(await h.status()).toBe("running");
    expect((await h.agent.call("version", {})).agentVersion).toBe(version.agentVersion);
    const qemu = readPidFile(join(s.dir, "qemu.pid"))!.pid;
    const t1 = performance.now();
    await h.stop();
    console.info(`stop (agent shutdown): ${Math.round(performance.now() - t1)} ms`);
    expect(isProcessAlive(qemu)).toBe(false);
    expect(readVmState(s.dir)).toMatchObject({ state: "stopped", reason: "stop" });
    for (const f of ["monitor.sock", "qmp.sock", "agent.sock", "qemu.pid", "monitor.pid"]) expect(existsSync(join(s.dir, f))).toBe(false);
  }, 300_000);

  test("QEMU SIGKILLed mid-run: monitor records stopped and exits", async () => {
    const s = spec("img2");
    const h = await new MonitorBackend().boot(s);
    const qemu = readPidFile(join(s.dir, "qemu.pid"))!.pid;
    process.kill(qemu, "SIGKILL");
    expect(await waitForExit(h.pid, 10_000)).toBe(true);
    expect(readVmState(s.dir)).toMatchObject({ state: "stopped", reason: "exited" });
    expect(await h.status()).toBe("stopped");
    await h.close();
  }, 300_000);
});
