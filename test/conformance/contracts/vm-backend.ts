import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { PROTOCOL_VERSION } from "../../../src/agent/protocol.ts";
import type { VmBackend, VmHandle } from "../../../src/core/ports.ts";
import type { VmSpec } from "../../../src/hypervisor/types.ts";
import { isProcessAlive } from "../../../src/host/proc.ts";
import { clause, type Deviations, expectHuskError, gone, rejection } from "../../support/conformance/expect.ts";

/**
 * The VmBackend port's contract (VmBackend/VmHandle in src/core/ports.ts):
 * boot resolves once the VM's agent answers; connect attaches a second
 * handle (another process's view) to the same VM; status/pause/resume;
 * close drops one connection and leaves the VM running; stop shuts the VM
 * down and its owner exits; forceCleanup kills whatever is left for a
 * sandbox dir, is idempotent and leaves no process.
 */

export interface VmBackendFactory {
  backend: VmBackend;
  /** A spec for a new sandbox VM, its dir <root>/sandboxes/<sid> (made, empty). */
  spec(sid: string): VmSpec;
  /** Host processes that make up a booted VM (its owner, handle.pid, and the VM process). */
  processes(spec: VmSpec, handle: VmHandle): number[];
  timeoutMs: number;
  deviations?: Deviations;
}

export const VM_BACKEND_CLAUSES = {
  statusAfterStop: "status() of a stopped VM's handle answers stopped",
} as const;

export function vmBackendContract(name: string, factory: VmBackendFactory): void {
  describe(`VmBackend contract: ${name}`, () => {
    const T = factory.timeoutMs;
    const { backend } = factory;
    /** Every handle made, closed (and its VM force-cleaned) at the end whatever happened. */
    const opened: { spec: VmSpec; handle: VmHandle }[] = [];
    afterAll(async () => {
      for (const { spec, handle } of opened) {
        await handle.close().catch(() => {});
        await backend.forceCleanup(spec.dir).catch(() => {});
      }
    }, T);

    // One VM ("main") through the lifecycle, the tests in order; a second one for forceCleanup.
    let spec: VmSpec;
    let first: VmHandle;
    let second: VmHandle;
    let pids: number[] = [];

    test("has a name", () => {
      expect(typeof backend.name).toBe("string");
      expect(backend.name.length).toBeGreaterThan(0);
    });

    test(
      "boot resolves once the agent answers: handle.agent serves version, the owner process lives, status running",
      async () => {
        spec = factory.spec("main");
        first = await backend.boot(spec);
        opened.push({ spec, handle: first });
        expect(Number.isInteger(first.pid)).toBe(true);
        expect(first.pid).toBeGreaterThan(0);
        expect(isProcessAlive(first.pid)).toBe(true);
        pids = factory.processes(spec, first);
        expect(pids).toContain(first.pid);
        for (const pid of pids) expect(isProcessAlive(pid)).toBe(true);
        expect((await first.agent.call("version", {})).protocolVersion).toBe(PROTOCOL_VERSION);
        expect(await first.status()).toBe("running");
      },
      T,
    );

    test(
      "connect gives a second handle on the same VM: same owner pid, its agent answers about the same guest",
      async () => {
        second = await backend.connect(spec);
        opened.push({ spec, handle: second });
        expect(second.pid).toBe(first.pid);
        const [a, b] = await Promise.all([first.agent.call("guestDetails", {}), second.agent.call("guestDetails", {})]);
        expect(b.memTotalKiB).toBe(a.memTotalKiB);
        expect(b.cpus).toBe(a.cpus);
        expect(await second.status()).toBe("running");
      },
      T,
    );

    test(
      "pause through one handle is seen through the other; resume likewise; the agent answers again after resume",
      async () => {
        await second.pause();
        expect(await second.status()).toBe("paused");
        expect(await first.status()).toBe("paused");
        await first.resume();
        expect(await first.status()).toBe("running");
        expect(await second.status()).toBe("running");
        expect((await second.agent.call("version", {})).protocolVersion).toBe(PROTOCOL_VERSION);
      },
      T,
    );

    test(
      "close() drops one connection only: the VM runs on, the other handle works, a new connect works",
      async () => {
        await second.close();
        expect(await first.status()).toBe("running");
        expect((await first.agent.call("version", {})).protocolVersion).toBe(PROTOCOL_VERSION);
        for (const pid of pids) expect(isProcessAlive(pid)).toBe(true);
        const third = await backend.connect(spec);
        opened.push({ spec, handle: third });
        expect(third.pid).toBe(first.pid);
        expect(await third.status()).toBe("running");
        await third.close();
        expect(await first.status()).toBe("running");
      },
      T,
    );

    test(
      "stop shuts the VM down: no process of it is left, connect then rejects with E_MONITOR",
      async () => {
        await first.stop();
        for (const pid of pids) expect(await gone(pid)).toBe(true);
        for (const sock of [spec.qmpSocket, spec.agentSocket]) expect(existsSync(sock)).toBe(false);
        await expectHuskError(backend.connect(spec), "E_MONITOR");
      },
      T,
    );

    clause(
      name,
      factory.deviations,
      VM_BACKEND_CLAUSES.statusAfterStop,
      async () => {
        expect(await first.status()).toBe("stopped");
      },
      T,
    );

    test(
      "forceCleanup of a live VM (never stopped) leaves no process and no socket; it is idempotent",
      async () => {
        const s = factory.spec("forced");
        const h = await backend.boot(s);
        opened.push({ spec: s, handle: h });
        const ps = factory.processes(s, h);
        for (const pid of ps) expect(isProcessAlive(pid)).toBe(true);
        await backend.forceCleanup(s.dir);
        for (const pid of ps) expect(await gone(pid)).toBe(true);
        for (const sock of [s.qmpSocket, s.agentSocket]) expect(existsSync(sock)).toBe(false);
        await backend.forceCleanup(s.dir);
        for (const pid of ps) expect(isProcessAlive(pid)).toBe(false);
        // No running VM is left to attach to: connect refuses, or attaches to a VM that reports stopped.
        let late: VmHandle | undefined;
        try {
          late = await backend.connect(s);
        } catch (e) {
          expect((e as { code?: string }).code).toBe("E_MONITOR");
        }
        if (late) {
          opened.push({ spec: s, handle: late });
          expect(await late.status()).toBe("stopped");
        }
      },
      T,
    );

    test(
      "forceCleanup of a sandbox dir with no VM (empty, or missing) resolves and creates nothing",
      async () => {
        const s = factory.spec("empty");
        await backend.forceCleanup(s.dir);
        await backend.forceCleanup(s.dir);
        const missing = join(s.dir, "..", "never-made");
        await backend.forceCleanup(missing);
        expect(existsSync(missing)).toBe(false);
      },
      T,
    );

    test(
      "connect to a sandbox that was never booted rejects with E_MONITOR",
      async () => {
        const s = factory.spec("never");
        mkdirSync(s.dir, { recursive: true });
        const err = await rejection(backend.connect(s));
        expect(err.code).toBe("E_MONITOR");
      },
      T,
    );
  });
}
