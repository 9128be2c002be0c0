import { testVmSpec } from "../../support/vm-spec.ts";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HypervisorError } from "../../../src/host/errors.ts";
import { QemuHypervisor } from "../../../src/hypervisor/qemu/index.ts";
import type { VmSpec } from "../../../src/hypervisor/types.ts";
import { debianKernel, makeInitramfs, skipReason } from "./fixture.ts";

/** Real QEMU under TCG with Debian's kernel and a busybox init. One VM at a time. */

const skip = skipReason();
if (skip) console.warn(`SKIP qemu driver integration tests: ${skip}`);

const work = mkdtempSync(join(tmpdir(), "husk-vm-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function spec(name: string, initrd: string, over: Partial<VmSpec> = {}): VmSpec {
  return testVmSpec(join(work, name), name, { kernel: debianKernel() ?? "/nonexistent", initrd, kernelParams: ["quiet"], ...over });
}

async function waitForConsole(path: string, text: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(path) && readFileSync(path, "utf8").includes(text)) return true;
    await Bun.sleep(100);
  }
  return false;
}

describe.skipIf(!!skip)("QemuHypervisor (real QEMU, TCG)", () => {
  test("prepare names a missing kernel before anything starts", async () => {
    const hv = new QemuHypervisor();
    const s = spec("missing", "/nonexistent/initrd", { kernel: join(work, "no-such-vmlinux") });
    const err = await hv.prepare(s).catch((e) => e);
    expect(err).toBeInstanceOf(HypervisorError);
    expect(err.code).toBe("E_HYPERVISOR");
    expect(err.message).toContain("no-such-vmlinux");
    expect(existsSync(s.consoleLog)).toBe(false);
  });

  test("prepare names a missing qemu binary", async () => {
    const hv = new QemuHypervisor();
    const err = await hv.prepare(spec("nobin", makeInitramfs("X"), { binary: "qemu-system-nonexistent" })).catch((e) => e);
    expect(err).toBeInstanceOf(HypervisorError);
    expect(err.message).toContain("qemu-system-nonexistent");
  });

  test("boots to init, console logged, QMP status/pause/resume, stop leaves nothing", async () => {
    const marker = `HUSK-BOOT-${process.pid}`;
    // The guest prints a counter every 0.2 s so pause is observable in the console.
    const initrd = makeInitramfs(marker, "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done &");
    const s = spec("boot", initrd);
    const hv = new QemuHypervisor();
    await hv.prepare(s);
    const t0 = performance.now();
    const { pid } = await hv.start();
    expect(pid).toBeGreaterThan(0);
    expect(await hv.status()).toBe("running");
    expect(await waitForConsole(s.consoleLog, marker, 60_000)).toBe(true);
    console.info(`boot to init (bzImage, microvm, TCG): ${Math.round(performance.now() - t0)} ms`);
    expect(await waitForConsole(s.consoleLog, "tick-3", 20_000)).toBe(true);

    await hv.pause();
    expect(await hv.status()).toBe("paused");
    const size = readFileSync(s.consoleLog).length;
    await Bun.sleep(1000);
    expect(readFileSync(s.consoleLog).length).toBe(size); // no progress while paused
    await hv.resume();
    expect(await hv.status()).toBe("running");
    const before = readFileSync(s.consoleLog).length;
    await Bun.sleep(1500);
    expect(readFileSync(s.consoleLog).length).toBeGreaterThan(before);

    await hv.stop({ timeoutMs: 4000 });
    const exit = await hv.wait();
    expect(exit.consoleTail).toContain("tick-");
    expect(await hv.status()).toBe("stopped");
    await hv.cleanup();
    expect(existsSync(s.qmpSocket)).toBe(false);
    expect(existsSync(s.agentSocket)).toBe(false);
    expect(existsSync(join(s.dir, "qemu.pid"))).toBe(false);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  }, 120_000);

  test("QEMU killed with SIGKILL: wait() resolves with the signal and the console tail", async () => {
    const marker = `HUSK-KILL-${process.pid}`;
    const s = spec("kill", makeInitramfs(marker));
    const hv = new QemuHypervisor();
    await hv.prepare(s);
    const { pid } = await hv.start();
    expect(await waitForConsole(s.consoleLog, marker, 60_000)).toBe(true);
    process.kill(pid, "SIGKILL");
    const exit = await hv.wait();
    expect(exit.signal).toBe("SIGKILL");
    expect(exit.code).toBeNull();
    expect(exit.consoleTail).toContain(marker);
    expect(await hv.status()).toBe("stopped");
    await hv.cleanup();
    expect(existsSync(s.qmpSocket)).toBe(false);
  }, 120_000);

  test("a guest that powers off ends QEMU with exit code 0", async () => {
    const s = spec("poweroff", makeInitramfs("HUSK-OFF", "poweroff -f"));
    const hv = new QemuHypervisor();
    await hv.prepare(s);
    await hv.start();
    const exit = await hv.wait();
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.consoleTail).toContain("HUSK-OFF");
    await hv.cleanup();
  }, 120_000);
});
