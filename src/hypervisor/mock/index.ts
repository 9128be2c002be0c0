import { checkSpecFiles } from "../spec-files.ts";
import { appendFileSync, rmSync } from "node:fs";
import { HypervisorError } from "../../host/errors.ts";
import { logger } from "../../host/log.ts";
import { isProcessAlive, processStartTime } from "../../host/proc.ts";
import { pollUntil } from "../../host/time.ts";
import type { AgentEndpoint, DeviceSpec, Hypervisor, HypervisorCapabilities, VmExit, VmSpec, VmStatus } from "../types.ts";
import { readMockVmState, removeMockVmState, writeMockVmState, type MockVmState } from "./state.ts";

/**
 * Mock hypervisor: no VM, but the same observable behaviour. It records
 * every call (in this object and in <dir>/mock-hypervisor.json, so separate
 * processes share it), fails on demand per method, and by default starts a
 * real placeholder process (`sleep`) standing for the VM process, so pid
 * liveness checks, crashes (kill the placeholder) and stop are real.
 */

const log = logger("mock-hv");

export const MOCK_HYPERVISOR_METHODS = [
  "capabilities",
  "prepare",
  "start",
  "stop",
  "wait",
  "pause",
  "resume",
  "status",
  "addDevice",
  "cleanup",
] as const;
export type MockHypervisorMethod = (typeof MOCK_HYPERVISOR_METHODS)[number];

export interface MockHypervisorOptions {
  /** Throw this error when the method is called (scripted failure). */
  failOn?: Partial<Record<MockHypervisorMethod, Error>>;
  /** Spawn a placeholder process for the VM (default true); false: use this process's pid. */
  placeholder?: boolean;
  /** Where the persisted state lives; defaults to the spec's dir at prepare(). */
  dir?: string;
}

export class MockHypervisor implements Hypervisor {
  readonly name = "mock";
  /** Calls made through this object (the persisted log has every process's). */
  readonly calls: { method: MockHypervisorMethod; args: unknown[] }[] = [];
  readonly devices: DeviceSpec[] = [];
  /** Pid start() reported (the placeholder), for tests. */
  startedPid: number | undefined;
  private spec: VmSpec | undefined;
  private dir: string | undefined;

  constructor(private readonly options: MockHypervisorOptions = {}) {
    this.dir = options.dir;
  }

  private record(method: MockHypervisorMethod, ...args: unknown[]): void {
    this.calls.push({ method, args });
    if (this.dir) {
      const state = readMockVmState(this.dir);
      if (state) writeMockVmState(this.dir, { ...state, calls: [...state.calls, { method, pid: process.pid }] });
    }
    const failure = this.options.failOn?.[method];
    if (failure) {
      log.debug(`scripted failure of ${method}`);
      throw failure;
    }
  }

  private load(): MockVmState {
    if (!this.dir) throw new HypervisorError("mock hypervisor: no VM prepared");
    const state = readMockVmState(this.dir);
    if (!state) throw new HypervisorError(`mock hypervisor: no VM in ${this.dir}`);
    return state;
  }

  private save(state: MockVmState): void {
    if (this.dir) writeMockVmState(this.dir, state);
  }

  /** The persisted state (status, placeholder pid, every process's calls). */
  persisted(): MockVmState | undefined {
    return this.dir ? readMockVmState(this.dir) : undefined;
  }

  /** Pid of the process standing for the VM, when started. */
  vmPid(): number | undefined {
    return this.persisted()?.pid;
  }

  /** Take over a VM another process prepared (no call recorded: it is not a driver method). */
  attach(spec: VmSpec): MockVmState {
    this.spec = spec;
    this.dir = spec.dir;
    const state = readMockVmState(spec.dir);
    if (!state) throw new HypervisorError(`mock hypervisor: no VM for sandbox ${spec.sandboxId}`);
    return state;
  }

  async capabilities(): Promise<HypervisorCapabilities> {
    this.record("capabilities");
    return { accelerator: "none", vsock: false, pause: true, hotplug: true };
  }

  async prepare(spec: VmSpec): Promise<void> {
    // As QEMU's driver: a spec naming a missing kernel or directory starts nothing.
    checkSpecFiles(spec);
    this.spec = spec;
    this.dir ??= spec.dir;
    if (!readMockVmState(this.dir)) writeMockVmState(this.dir, { status: "prepared", calls: [] });
    this.record("prepare", spec);
  }

  async start(): Promise<{ pid: number }> {
    this.record("start");
    const state = this.load();
    if (state.status !== "prepared") throw new HypervisorError(`mock hypervisor: cannot start a VM that is ${state.status}`);
    let pid = process.pid;
    if (this.options.placeholder !== false) {
      const child = Bun.spawn(["sleep", "2147483647"], { stdio: ["ignore", "ignore", "ignore"] });
      child.unref();
      pid = child.pid;
    }
    this.startedPid = pid;
    const pidStart = processStartTime(pid);
    this.save({ ...this.load(), status: "running", pid, ...(pidStart === undefined ? {} : { pidStart }) });
    if (this.spec) appendFileSync(this.spec.consoleLog, `mock VM ${this.spec.sandboxId} started (pid ${pid})\n`, { mode: 0o600 });
    return { pid };
  }

  private alive(state: MockVmState): boolean {
    return state.pid !== undefined && isProcessAlive(state.pid, state.pidStart);
  }

  async stop(): Promise<void> {
    this.record("stop");
    const state = this.persisted();
    if (!state) return;
    if (state.pid !== undefined && state.pid !== process.pid && this.alive(state)) {
      await killAndWait(state.pid, state.pidStart);
    }
    this.save({ ...state, status: "stopped" });
  }

  async wait(): Promise<VmExit> {
    this.record("wait");
    for (;;) {
      const state = this.load();
      if (state.status === "stopped" || !this.alive(state)) {
        return { code: null, signal: "SIGKILL", consoleTail: "" };
      }
      await Bun.sleep(20);
    }
  }

  async pause(): Promise<void> {
    this.record("pause");
    const state = this.load();
    if (state.status !== "running") throw new HypervisorError(`mock hypervisor: cannot pause a VM that is ${state.status}`);
    this.save({ ...state, status: "paused" });
  }

  async resume(): Promise<void> {
    this.record("resume");
    const state = this.load();
    if (state.status !== "paused") throw new HypervisorError(`mock hypervisor: cannot resume a VM that is ${state.status}`);
    this.save({ ...state, status: "running" });
  }

  async status(): Promise<VmStatus> {
    this.record("status");
    // As QEMU's driver: no VM (never prepared, or cleaned up after a stop) is a stopped one.
    const state = this.dir ? readMockVmState(this.dir) : undefined;
    if (!state || state.status === "prepared") return "stopped";
    if (state.status !== "stopped" && !this.alive(state)) return "stopped";
    return state.status;
  }

  async addDevice(device: DeviceSpec): Promise<void> {
    this.record("addDevice", device);
    this.devices.push(device);
  }

  agentEndpoint(): AgentEndpoint {
    return { kind: "unix", path: this.spec?.agentSocket ?? `${this.dir ?? "/nonexistent"}/agent.sock` };
  }

  async cleanup(): Promise<void> {
    this.record("cleanup");
    if (!this.dir) return;
    const state = readMockVmState(this.dir);
    if (state?.pid !== undefined && state.pid !== process.pid && this.alive(state)) await killAndWait(state.pid, state.pidStart);
    if (this.spec) rmSync(this.spec.consoleLog, { force: true });
    removeMockVmState(this.dir);
  }
}

/**
 * The mock's side of VmBackend.forceCleanup: kill the placeholder VM process
 * a crashed operation left running and record the VM stopped (the call is
 * recorded like any other, so tests can see it happened).
 */
export async function forceCleanupMockVm(dir: string): Promise<void> {
  const state = readMockVmState(dir);
  if (!state) return;
  if (state.pid !== undefined && state.pid !== process.pid && isProcessAlive(state.pid, state.pidStart)) {
    await killAndWait(state.pid, state.pidStart);
  }
  writeMockVmState(dir, { ...state, status: "stopped", calls: [...state.calls, { method: "forceCleanup", pid: process.pid }] });
}

/**
 * SIGKILL the placeholder and wait until it is gone (a zombie counts as
 * gone): signal delivery is asynchronous, and callers check right after
 * stop, as they may after the real driver's stop, which waits for QEMU.
 */
async function killAndWait(pid: number, pidStart: number | undefined): Promise<void> {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return; // already gone
  }
  await pollUntil(() => !isProcessAlive(pid, pidStart), { timeoutMs: 5000, intervalMs: 20 });
}
