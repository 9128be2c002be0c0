import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bootVm } from "../../../src/monitor/boot.ts";
import { testVmSpec } from "../../support/vm-spec.ts";
import { FakeHypervisor } from "./fakes.ts";

/**
 * A failed boot lets go of the agent socket before it returns: a clone that
 * died (garbage template memory) must not leave a handshake retrying on the
 * socket path the cold boot's QEMU creates next — QEMU serves one client, and
 * the cold VM's agent would never answer the monitor.
 */

const root = mkdtempSync(join(tmpdir(), "husk-boot-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A connector that never completes the handshake: it only gives up when told to. */
function retryingConnector(events: string[]) {
  let signal: AbortSignal | undefined;
  const connect = (_path: string, _timeoutMs: number, s: AbortSignal) => {
    signal = s;
    return new Promise<never>((_, reject) => {
      s.addEventListener("abort", () => {
        events.push("connector gave up");
        reject(s.reason);
      });
    });
  };
  return { connect, aborted: () => signal?.aborted === true };
}

describe("bootVm after a failed boot", () => {
  test("a boot timeout aborts the pending handshake and waits for it before failing", async () => {
    const events: string[] = [];
    const c = retryingConnector(events);
    const spec = testVmSpec(join(root, "t1"), "t1", { bootTimeoutMs: 300 });
    const err = await bootVm(new FakeHypervisor({ noAgent: true }), spec, c.connect).catch((e) => {
      events.push("boot failed");
      return e;
    });
    expect(err).toMatchObject({ code: "E_BOOT_TIMEOUT" });
    expect(c.aborted()).toBe(true);
    expect(events).toEqual(["connector gave up", "boot failed"]);
  });

  test("the VM exiting first (a clone that crashed) does the same", async () => {
    const events: string[] = [];
    const c = retryingConnector(events);
    const hv = new FakeHypervisor({ noAgent: true });
    const spec = testVmSpec(join(root, "t2"), "t2", { bootTimeoutMs: 30_000 });
    const booting = bootVm(hv, spec, c.connect, {
      // The "guest" dies right after it starts.
      afterStart: async () => void setTimeout(() => void hv.stop(), 50),
    }).catch((e) => {
      events.push("boot failed");
      return e;
    });
    const err = await booting;
    expect(err).toMatchObject({ code: "E_HYPERVISOR" });
    expect(c.aborted()).toBe(true);
    expect(events).toEqual(["connector gave up", "boot failed"]);
  });
});
