import type { Agent } from "../../src/agent/types.ts";
import { CleanupError, asHuskError } from "../../src/host/errors.ts";
import type { Hypervisor, VmSpec, VmStatus } from "../../src/hypervisor/types.ts";
import { logger } from "../../src/host/log.ts";
import type { VmBackend, VmHandle } from "../../src/core/ports.ts";

/**
 * InProcessBackend: a VmBackend that drives a Hypervisor driver and an Agent
 * directly in the calling process (no monitor). With the mock drivers, whose
 * state is persisted in the sandbox dir, it works across processes too:
 * `connect` reattaches to what another process booted.
 */

const log = logger("inprocess");

export interface InProcessDrivers {
  /** A driver for a new VM. */
  hypervisor(spec: VmSpec): Hypervisor;
  /** The driver of a VM another process booted, and the pid of its VM process. */
  reattach(spec: VmSpec): Promise<{ hypervisor: Hypervisor; pid: number }>;
  /** An agent for the VM. */
  agent(spec: VmSpec, hypervisor: Hypervisor): Agent;
  /** Graceful-stop budget for Hypervisor.stop. */
  stopTimeoutMs?: number;
  /** Kill what an interrupted operation left for the VM in dir (VmBackend.forceCleanup). */
  forceCleanup?(dir: string): Promise<void> | void;
}

class InProcessHandle implements VmHandle {
  constructor(
    private readonly hypervisor: Hypervisor,
    readonly agent: Agent,
    readonly pid: number,
    private readonly stopTimeoutMs: number | undefined,
  ) {}

  status(): Promise<VmStatus> {
    return this.hypervisor.status();
  }
  pause(): Promise<void> {
    return this.hypervisor.pause();
  }
  resume(): Promise<void> {
    return this.hypervisor.resume();
  }
  async stop(): Promise<void> {
    try {
      await this.agent.call("shutdown", {}, { timeoutMs: 2000 });
    } catch (e) {
      log.debug(`agent shutdown failed (stopping the VM anyway): ${(e as Error).message}`);
    }
    await this.agent.close();
    try {
      await this.hypervisor.stop(this.stopTimeoutMs === undefined ? {} : { timeoutMs: this.stopTimeoutMs });
    } finally {
      // Sockets and files go even when the graceful stop failed; the stop error still surfaces.
      await this.hypervisor.cleanup();
    }
  }
  close(): Promise<void> {
    return this.agent.close();
  }
}

export class InProcessBackend implements VmBackend {
  readonly name = "in-process";

  constructor(private readonly drivers: InProcessDrivers) {}

  async boot(spec: VmSpec): Promise<VmHandle> {
    const hv = this.drivers.hypervisor(spec);
    let agent: Agent | undefined;
    try {
      await hv.prepare(spec);
      const { pid } = await hv.start();
      agent = this.drivers.agent(spec, hv);
      await agent.call("version", {}, { timeoutMs: spec.bootTimeoutMs });
      log.debug(`booted ${spec.sandboxId} (vm pid ${pid})`);
      return new InProcessHandle(hv, agent, pid, this.drivers.stopTimeoutMs);
    } catch (e) {
      const failures: unknown[] = [];
      for (const step of [() => agent?.close(), () => hv.stop({ timeoutMs: 1000 }), () => hv.cleanup()]) {
        try {
          await step();
        } catch (c) {
          failures.push(c);
        }
      }
      const err = asHuskError(e, "E_HYPERVISOR", `cannot boot sandbox ${spec.sandboxId}`);
      throw failures.length > 0 ? new CleanupError(err, failures) : err;
    }
  }

  async connect(spec: VmSpec): Promise<VmHandle> {
    const { hypervisor, pid } = await this.drivers.reattach(spec);
    return new InProcessHandle(hypervisor, this.drivers.agent(spec, hypervisor), pid, this.drivers.stopTimeoutMs);
  }

  async forceCleanup(dir: string): Promise<void> {
    await this.drivers.forceCleanup?.(dir);
  }
}
