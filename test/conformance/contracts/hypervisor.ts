import { afterEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import type { Hypervisor, VmSpec } from "../../../src/hypervisor/types.ts";
import { isProcessAlive } from "../../../src/host/proc.ts";
import { clause, type Deviations, expectHuskError, gone } from "../../support/conformance/expect.ts";

/**
 * The Hypervisor port's contract (src/hypervisor/types.ts), as its doc
 * comments state it: prepare validates before anything starts, start runs
 * the VM process and its control channel, status/pause/resume, stop is
 * graceful-then-kill and idempotent, wait resolves on exit, cleanup is
 * idempotent and safe after a crash, addDevice agrees with capabilities(),
 * misuse fails with E_HYPERVISOR. Every driver must pass it.
 */

export interface HypervisorSubject {
  driver: Hypervisor;
  /** A spec for a new VM in a directory of its own (nothing started). */
  spec: VmSpec;
}

export interface HypervisorFactory {
  /** A fresh driver and spec; `name` is unique per call (a directory name). */
  make(name: string): HypervisorSubject;
  /** stop()'s grace for the contract's VMs (ms). */
  stopTimeoutMs: number;
  /** Per-test timeout (ms): real VMs are slow under TCG. */
  timeoutMs: number;
  /** Clauses this driver is known to break, with the reason (skipped visibly). */
  deviations?: Deviations;
}

export const HYPERVISOR_CLAUSES = {
  prepareValidates: "prepare refuses a spec whose kernel does not exist (E_HYPERVISOR naming it) and starts nothing",
} as const;

export function hypervisorContract(name: string, factory: HypervisorFactory): void {
  describe(`Hypervisor contract: ${name}`, () => {
    let made: HypervisorSubject[] = [];
    let seq = 0;
    const make = (): HypervisorSubject => {
      const s = factory.make(`vm${++seq}`);
      made.push(s);
      return s;
    };
    const started = async (): Promise<HypervisorSubject & { pid: number }> => {
      const s = make();
      await s.driver.prepare(s.spec);
      const { pid } = await s.driver.start();
      return { ...s, pid };
    };
    const stopOpts = { timeoutMs: factory.stopTimeoutMs };
    const T = factory.timeoutMs;

    afterEach(async () => {
      // Whatever a test left running: stop and clean up (both idempotent by contract).
      for (const s of made) {
        await s.driver.stop(stopOpts).catch(() => {});
        await s.driver.cleanup().catch(() => {});
      }
      made = [];
    }, T);

    test("has a name and capabilities of the documented shape", async () => {
      const { driver } = make();
      expect(typeof driver.name).toBe("string");
      expect(driver.name.length).toBeGreaterThan(0);
      const caps = await driver.capabilities();
      expect(["kvm", "tcg", "none"]).toContain(caps.accelerator);
      for (const k of ["vsock", "pause", "hotplug"] as const) expect(typeof caps[k]).toBe("boolean");
    });

    clause(
      name,
      factory.deviations,
      HYPERVISOR_CLAUSES.prepareValidates,
      async () => {
        const s = make();
        const bad = { ...s.spec, kernel: `${s.spec.dir}/no-such-vmlinux` };
        await expectHuskError(s.driver.prepare(bad), "E_HYPERVISOR", "no-such-vmlinux");
        expect(existsSync(s.spec.consoleLog)).toBe(false);
      },
      T,
    );

    test(
      "start before prepare rejects with E_HYPERVISOR",
      async () => {
        const { driver } = make();
        await expectHuskError(driver.start(), "E_HYPERVISOR");
      },
      T,
    );

    test(
      "prepared, not started: status is stopped; pause and resume reject with E_HYPERVISOR; stop resolves",
      async () => {
        const { driver, spec } = make();
        await driver.prepare(spec);
        expect(await driver.status()).toBe("stopped");
        await expectHuskError(driver.pause(), "E_HYPERVISOR");
        await expectHuskError(driver.resume(), "E_HYPERVISOR");
        await driver.stop(stopOpts); // idempotent: nothing to stop is not an error
        expect(await driver.status()).toBe("stopped");
      },
      T,
    );

    test(
      "agentEndpoint names the spec's agent socket (virtio-serial over a unix socket)",
      async () => {
        const { driver, spec } = make();
        await driver.prepare(spec);
        expect(driver.agentEndpoint()).toEqual({ kind: "unix", path: spec.agentSocket });
      },
      T,
    );

    test(
      "start runs the VM process: pid alive, status running, console log written; a second start rejects with E_HYPERVISOR",
      async () => {
        const { driver, spec, pid } = await started();
        expect(Number.isInteger(pid)).toBe(true);
        expect(pid).toBeGreaterThan(0);
        expect(isProcessAlive(pid)).toBe(true);
        expect(await driver.status()).toBe("running");
        expect(existsSync(spec.consoleLog)).toBe(true);
        await expectHuskError(driver.start(), "E_HYPERVISOR");
        expect(isProcessAlive(pid)).toBe(true); // the failed second start did not touch the first VM
        expect(await driver.status()).toBe("running");
      },
      T,
    );

    test(
      "pause → paused, resume → running (capabilities().pause); the VM process lives on",
      async () => {
        const { driver, pid } = await started();
        expect((await driver.capabilities()).pause).toBe(true);
        await driver.pause();
        expect(await driver.status()).toBe("paused");
        expect(isProcessAlive(pid)).toBe(true);
        await driver.resume();
        expect(await driver.status()).toBe("running");
        await driver.pause();
        await driver.resume();
        expect(await driver.status()).toBe("running");
      },
      T,
    );

    test(
      "stop: the VM process is gone, wait() resolves with a VmExit, status stopped; stop again resolves",
      async () => {
        const { driver, pid } = await started();
        const waited = driver.wait();
        await driver.stop(stopOpts);
        expect(await gone(pid)).toBe(true);
        const exit = await waited;
        expect(exit.code === null || Number.isInteger(exit.code)).toBe(true);
        expect(exit.signal === null || typeof exit.signal === "string").toBe(true);
        expect(exit.code !== null || exit.signal !== null).toBe(true);
        expect(typeof exit.consoleTail).toBe("string");
        expect(await driver.status()).toBe("stopped");
        await driver.stop(stopOpts);
        expect(await driver.status()).toBe("stopped");
        // wait() after the exit still answers (the same exit).
        expect(await driver.wait()).toEqual(exit);
      },
      T,
    );

    test(
      "a stopped VM cannot be paused or resumed (E_HYPERVISOR)",
      async () => {
        const { driver } = await started();
        await driver.stop(stopOpts);
        await expectHuskError(driver.pause(), "E_HYPERVISOR");
        await expectHuskError(driver.resume(), "E_HYPERVISOR");
      },
      T,
    );

    test(
      "concurrent stops both resolve and stop the VM once",
      async () => {
        const { driver, pid } = await started();
        await Promise.all([driver.stop(stopOpts), driver.stop(stopOpts)]);
        expect(await gone(pid)).toBe(true);
        expect(await driver.status()).toBe("stopped");
      },
      T,
    );

    test(
      "stopping a paused VM works",
      async () => {
        const { driver, pid } = await started();
        await driver.pause();
        await driver.stop(stopOpts);
        expect(await gone(pid)).toBe(true);
        expect(await driver.status()).toBe("stopped");
      },
      T,
    );

    test(
      "the VM process dying (SIGKILL) is seen: wait() resolves, status stopped, cleanup safe",
      async () => {
        const { driver, spec, pid } = await started();
        const waited = driver.wait();
        process.kill(pid, "SIGKILL");
        const exit = await waited;
        // Killed is not a clean exit: a signal, or a non-zero code (a wrapper reporting its child's death).
        expect(exit.signal !== null || (exit.code !== null && exit.code !== 0)).toBe(true);
        expect(typeof exit.consoleTail).toBe("string");
        expect(await gone(pid)).toBe(true);
        expect(await driver.status()).toBe("stopped");
        await driver.stop(stopOpts);
        await driver.cleanup();
        expect(existsSync(spec.qmpSocket)).toBe(false);
        expect(existsSync(spec.agentSocket)).toBe(false);
      },
      T,
    );

    test(
      "addDevice agrees with capabilities().hotplug: E_UNSUPPORTED without hotplug",
      async () => {
        const { driver } = await started();
        const { hotplug } = await driver.capabilities();
        const dev = { kind: "9p" as const, id: "extra0", source: "/tmp", tag: "extra0", readonly: true };
        if (hotplug) await driver.addDevice(dev);
        else await expectHuskError(driver.addDevice(dev), "E_UNSUPPORTED");
        expect(await driver.status()).toBe("running"); // either way the VM is unharmed
      },
      T,
    );

    test(
      "cleanup of a running VM kills it and removes its sockets; cleanup is idempotent",
      async () => {
        const { driver, spec, pid } = await started();
        await driver.cleanup();
        expect(await gone(pid)).toBe(true);
        expect(existsSync(spec.qmpSocket)).toBe(false);
        expect(existsSync(spec.agentSocket)).toBe(false);
        await driver.cleanup();
        expect(existsSync(spec.qmpSocket)).toBe(false);
      },
      T,
    );

    test(
      "cleanup with nothing prepared or started resolves",
      async () => {
        const never = make();
        await never.driver.cleanup();
        const prepared = make();
        await prepared.driver.prepare(prepared.spec);
        await prepared.driver.cleanup();
        await prepared.driver.cleanup();
        expect(existsSync(prepared.spec.qmpSocket)).toBe(false);
      },
      T,
    );

    let hasTemplates = false;
    let probed = false;
    try {
      hasTemplates = typeof factory.make("probe").driver.saveTemplate === "function";
      probed = true;
    } catch {
      // the factory cannot make a subject here (the real driver's suite is skipped, with its reason)
    }
    test.skipIf(!hasTemplates)(
      "saveTemplate/restoreTemplate on a VM not started for templates reject with E_HYPERVISOR",
      async () => {
        const { driver } = await started();
        await expectHuskError(driver.saveTemplate!(), "E_HYPERVISOR");
        await expectHuskError(driver.restoreTemplate!(), "E_HYPERVISOR");
        expect(await driver.status()).toBe("running");
      },
      T,
    );
    if (probed && !hasTemplates) console.warn(`SKIP ${name}: templates clause (the driver has no saveTemplate; optional in the port)`);
  });
}
