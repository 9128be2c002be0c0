import { testVmSpec } from "../../support/vm-spec.ts";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HuskError } from "../../../src/host/errors.ts";
import { readPidFile } from "../../../src/hypervisor/qemu/pidfile.ts";
import type { VmSpec } from "../../../src/hypervisor/types.ts";
import { MonitorBackend } from "../../../src/monitor/backend.ts";
import { readVmState } from "../../../src/monitor/files.ts";
import { isProcessAlive, waitForExit } from "../../../src/host/proc.ts";
import { ECHO_HELLO_SCRIPT, debianKernel, makeInitramfs, skipReason, virtioSerialModules } from "./fixture.ts";

/**
 * The sandbox monitor against real QEMU (TCG, Debian kernel, busybox init).
 * The guest only completes the agent handshake (ECHO_HELLO_SCRIPT): the real
 * agent comes with the guest image. One VM at a time.
 */

const skip = skipReason() ?? (virtioSerialModules() ? undefined : "virtio kernel modules of the host kernel not found");
if (skip) console.warn(`SKIP monitor VM integration tests: ${skip}`);

const root = mkdtempSync(join(tmpdir(), "husk-vmmon-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const entry = join(import.meta.dir, "monitor-main.ts");
const backend = new MonitorBackend({ command: [process.execPath, entry], stopTimeoutMs: 4000 });
/** The real CLI entry (bun src/main.ts monitor …), as MonitorBackend runs it by default from source. */
const cliBackend = new MonitorBackend({ stopTimeoutMs: 4000 });

function spec(sid: string, initrd: string, over: Partial<VmSpec> = {}): VmSpec {
  return testVmSpec(join(root, "sandboxes", sid), sid, {
    kernel: debianKernel() ?? "/nonexistent",
    initrd,
    kernelParams: ["quiet"],
    ...over,
  });
}

async function rejection(p: Promise<unknown>): Promise<HuskError> {
  try {
    await p;
  } catch (e) {
    return e as HuskError;
  }
  throw new Error("expected a rejection");
}

const leftovers = (dir: string) =>
  ["monitor.sock", "monitor.pid", "qmp.sock", "agent.sock", "qemu.pid"].filter((f) => existsSync(join(dir, f)));

describe.skipIf(!!skip)("sandbox monitor with real QEMU", () => {
  const ticking = `i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done &`;

  test("boot → handshake → status/pause/resume; QEMU SIGKILLed is detected, recorded, nothing left", async () => {
    const initrd = makeInitramfs("HUSK-MON-BOOT", ECHO_HELLO_SCRIPT + ticking, undefined, virtioSerialModules());
    const s = spec("vm-kill", initrd);
    const t0 = performance.now();
    const h = await cliBackend.boot(s);
    console.info(`monitor boot to agent handshake (Debian bzImage, microvm, TCG): ${Math.round(performance.now() - t0)} ms`);
    expect(readVmState(s.dir)?.state).toBe("running");
    expect(readFileSync(s.consoleLog, "utf8")).toContain("handshake echoed");
    expect(await h.status()).toBe("running");

    await h.pause();
    expect(await h.status()).toBe("paused");
    const size = readFileSync(s.consoleLog).length;
    await Bun.sleep(1000);
    expect(readFileSync(s.consoleLog).length).toBe(size);
    await h.resume();
    expect(await h.status()).toBe("running");

    const qemu = readPidFile(join(s.dir, "qemu.pid"))!.pid;
    process.kill(qemu, "SIGKILL");
    expect(await waitForExit(h.pid, 10_000)).toBe(true);
    expect(readVmState(s.dir)).toMatchObject({ state: "stopped", reason: "exited", exit: { signal: "SIGKILL" } });
    expect(await h.status()).toBe("stopped");
    expect((await rejection(backend.connect(s))).message).toContain("sandbox monitor is not running");
    expect(leftovers(s.dir)).toEqual([]);
    expect(isProcessAlive(qemu)).toBe(false);
    await h.close();
  }, 180_000);

  test("stop: agent shutdown unanswered → QMP powerdown/quit; monitor exits, nothing left", async () => {
    const initrd = makeInitramfs("HUSK-MON-STOP", ECHO_HELLO_SCRIPT, undefined, virtioSerialModules());
    const s = spec("vm-stop", initrd);
    const h = await backend.boot(s);
    const qemu = readPidFile(join(s.dir, "qemu.pid"))!.pid;
    const t0 = performance.now();
    await h.stop();
    console.info(`stop with an unresponsive guest: ${Math.round(performance.now() - t0)} ms`);
    expect(isProcessAlive(h.pid)).toBe(false);
    expect(isProcessAlive(qemu)).toBe(false);
    expect(readVmState(s.dir)).toMatchObject({ state: "stopped", reason: "stop" });
    expect(leftovers(s.dir)).toEqual([]);
  }, 180_000);

  test("boot timeout: E_BOOT_TIMEOUT with the console tail; QEMU killed; nothing left", async () => {
    const initrd = makeInitramfs("HUSK-NO-AGENT");
    // Not quiet: the kernel prints from the start, so the tail is never empty however slow the host.
    const s = spec("vm-timeout", initrd, { kernelParams: [], bootTimeoutMs: 12_000 });
    const err = await rejection(backend.boot(s));
    expect(err.code).toBe("E_BOOT_TIMEOUT");
    expect(err.message).toContain("did not answer within 12000 ms");
    expect(err.message).toContain("guest console (last lines)");
    const last = readFileSync(s.consoleLog, "utf8").trimEnd().split("\n").at(-1)!.replace(/\r/g, "");
    expect(last.length).toBeGreaterThan(0);
    expect(err.message).toContain(last);
    expect(readVmState(s.dir)?.state).toBe("failed");
    expect(leftovers(s.dir)).toEqual([]);
  }, 180_000);

  test("guest powers off before the agent answers: E_HYPERVISOR with the console tail", async () => {
    const s = spec("vm-off", makeInitramfs("HUSK-EARLY-OFF", "poweroff -f"));
    const err = await rejection(backend.boot(s));
    expect(err.code).toBe("E_HYPERVISOR");
    expect(err.message).toContain("qemu exited during boot");
    expect(err.message).toContain("HUSK-EARLY-OFF");
    expect(leftovers(s.dir)).toEqual([]);
  }, 180_000);

  test("missing kernel: E_HYPERVISOR naming it, before QEMU starts", async () => {
    const s = spec("vm-nokernel", "/nonexistent/initrd", { kernel: join(root, "no-vmlinux") });
    const err = await rejection(backend.boot(s));
    expect(err.code).toBe("E_HYPERVISOR");
    expect(err.message).toContain("no-vmlinux");
    expect(existsSync(s.consoleLog)).toBe(false);
  }, 60_000);
});
