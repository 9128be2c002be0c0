import { readlinkSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { connectAgent, type AgentClient } from "../agent/client.ts";
import { ERROR_CODES, HuskError, HypervisorError, MonitorError, type ErrorCode } from "../host/errors.ts";
import { killQemuByPidFile } from "../hypervisor/qemu/leftovers.ts";
import { readTail } from "../hypervisor/qemu/console.ts";
import { readPidFile } from "../hypervisor/qemu/pidfile.ts";
import type { VmSpec, VmStatus } from "../hypervisor/types.ts";
import { logger } from "../host/log.ts";
import { socketPath } from "../host/sockets.ts";
import type { VmBackend, VmHandle } from "../core/ports.ts";
import { AGENT_SOCKET, MONITOR_LOG, MONITOR_PID_FILE, MONITOR_SOCKET, QEMU_PID_FILE, QMP_SOCKET } from "../host/layout.ts";
import { readVmState, removeVmState, writeVmConfig, type VmState } from "./files.ts";
import { isProcessAlive, waitForExit } from "../host/proc.ts";
import { MONITOR_METHODS, type MonitorMethods } from "./methods.ts";
import { huskCommand } from "../host/self.ts";
import { spawnMonitor } from "./spawn.ts";

/**
 * The real VmBackend: each sandbox VM is owned by a detached `husk monitor`
 * process; this side writes vm.json, starts the monitor, waits for it to
 * report the boot result in vm-state.json, and talks to it over monitor.sock.
 */

const log = logger("monitor-backend");

export interface MonitorBackendOptions {
  /** How to run husk (default: this executable; from source, bun + src/main.ts). Tests inject their own entry. */
  command?: string[];
  /** hypervisor.stop_timeout_ms: agent shutdown + powerdown grace before SIGKILL. */
  stopTimeoutMs?: number;
  /** Added to the monitor's environment. */
  env?: Record<string, string>;
  /** Extra time the monitor gets beyond spec.bootTimeoutMs to report (process start, prepare). */
  startGraceMs?: number;
  /** VM templates (`[factory]`): the monitor clones from the template in this directory when one matches. */
  factory?: { dir: string };
}

type MonitorClient = AgentClient<MonitorMethods>;

export class MonitorBackend implements VmBackend {
  readonly name = "monitor";
  constructor(private readonly options: MonitorBackendOptions = {}) {}

  async boot(spec: VmSpec): Promise<VmHandle> {
    const root = rootOf(spec);
    const stopTimeoutMs = this.options.stopTimeoutMs ?? 10_000;
    writeVmConfig(spec.dir, { version: 1, spec, stopTimeoutMs, ...(this.options.factory ? { factory: this.options.factory } : {}) });
    removeVmState(spec.dir); // a stale state from an earlier boot must not be read as this one's
    const pid = spawnMonitor(this.options.command ?? huskCommand(), root, spec.sandboxId, spec.dir, this.options.env);
    log.debug(`monitor for ${spec.sandboxId} started: pid ${pid}`);
    await this.waitReady(spec, pid);
    return this.attach(spec, pid, stopTimeoutMs);
  }

  forceCleanup(dir: string): Promise<void> {
    return forceStopVm(dir);
  }

  async connect(spec: VmSpec): Promise<VmHandle> {
    const state = readVmState(spec.dir);
    const pidFile = readPidFile(join(spec.dir, MONITOR_PID_FILE));
    if (!state || !pidFile || !isProcessAlive(pidFile.pid, pidFile.startTime)) {
      throw notRunning(spec, state);
    }
    return this.attach(spec, pidFile.pid, this.options.stopTimeoutMs ?? 10_000);
  }

  /** Poll vm-state.json until the monitor reports the boot result; never longer than the boot timeout + grace. */
  private async waitReady(spec: VmSpec, pid: number): Promise<void> {
    const limitMs = spec.bootTimeoutMs + (this.options.startGraceMs ?? 30_000);
    const deadline = Date.now() + limitMs;
    for (;;) {
      let state: VmState | undefined;
      try {
        state = readVmState(spec.dir);
      } catch (err) {
        log.warn(`reading vm state: ${(err as Error).message}`);
      }
      if (state?.state === "running" || state?.state === "paused") {
        // A template that failed to clone is worth telling the caller about: the create went on, but cold.
        if (state.boot?.warning) log.warn(`sandbox ${spec.sandboxId}: ${state.boot.warning}`);
        return;
      }
      if (state?.state === "failed") {
        await waitForExit(pid, 5000);
        const e = state.error;
        const code: ErrorCode = e && (ERROR_CODES as readonly string[]).includes(e.code) ? (e.code as ErrorCode) : "E_MONITOR";
        throw new HuskError(code, e?.message ?? "sandbox monitor failed to boot the VM", { details: { sandboxId: spec.sandboxId } });
      }
      if (state?.state === "stopped") {
        throw new HypervisorError(`sandbox ${spec.sandboxId}: the VM stopped during boot`);
      }
      if (!isProcessAlive(pid)) {
        throw new MonitorError(`sandbox monitor for ${spec.sandboxId} exited during boot without reporting a result${logBlock(spec.dir)}`, {
          details: { sandboxId: spec.sandboxId },
        });
      }
      if (Date.now() > deadline) {
        await forceStopVm(spec.dir, pid);
        throw new MonitorError(
          `sandbox monitor for ${spec.sandboxId} did not report the boot result within ${limitMs} ms; killed${logBlock(spec.dir)}`,
        );
      }
      await Bun.sleep(50);
    }
  }

  private async attach(spec: VmSpec, pid: number, stopTimeoutMs: number): Promise<VmHandle> {
    let client: MonitorClient;
    try {
      client = await connectAgent(socketPath(spec.dir, MONITOR_SOCKET), {
        extraMethods: MONITOR_METHODS,
        timeoutMs: 10_000,
        name: `monitor(${spec.sandboxId})`,
      });
    } catch (err) {
      throw notRunning(spec, readVmStateQuiet(spec.dir), err);
    }
    return new MonitorHandle(spec, pid, client, stopTimeoutMs);
  }
}

class MonitorHandle implements VmHandle {
  constructor(
    private readonly spec: VmSpec,
    readonly pid: number,
    private readonly client: MonitorClient,
    private readonly stopTimeoutMs: number,
  ) {}

  get agent(): MonitorClient {
    return this.client;
  }

  async status(): Promise<VmStatus> {
    try {
      return (await this.client.callExtra("monitor.status", {}, { timeoutMs: 10_000 })).status;
    } catch (err) {
      // Monitor gone after recording the VM stopped: that is an answer, not an error.
      const state = readVmStateQuiet(this.spec.dir);
      if (state?.state === "stopped") return "stopped";
      throw this.gone(err);
    }
  }

  async pause(): Promise<void> {
    await this.client.callExtra("monitor.pause", {}, { timeoutMs: 10_000 }).catch((e) => Promise.reject(this.gone(e)));
  }

  async resume(): Promise<void> {
    await this.client.callExtra("monitor.resume", {}, { timeoutMs: 10_000 }).catch((e) => Promise.reject(this.gone(e)));
  }

  /** Ask the monitor to shut the VM down, wait for it to exit; kill what is left if it does not. */
  async stop(): Promise<void> {
    try {
      await this.client.callExtra("monitor.stop", { timeoutMs: this.stopTimeoutMs }, { timeoutMs: this.stopTimeoutMs + 10_000 });
    } catch (err) {
      if (!isProcessAlive(this.pid)) {
        // Exited while answering (its work is done) or it was already gone.
        const state = readVmStateQuiet(this.spec.dir);
        await this.client.close().catch(() => {});
        if (state?.state === "stopped") return;
        await forceStopVm(this.spec.dir);
        throw this.gone(err);
      }
      log.warn(`monitor stop failed (${(err as Error).message}); killing sandbox ${this.spec.sandboxId}`);
    }
    await this.client.close().catch(() => {});
    if (!(await waitForExit(this.pid, 10_000))) {
      log.warn(`monitor ${this.pid} did not exit after stop; killing it`);
      await forceStopVm(this.spec.dir, this.pid);
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private gone(err: unknown): HuskError {
    if (err instanceof HuskError && err.code !== "E_PROTOCOL" && err.code !== "E_MONITOR" && isProcessAlive(this.pid)) return err;
    return notRunning(this.spec, readVmStateQuiet(this.spec.dir), err);
  }
}

/**
 * The force path (`delete --force`, a monitor that will not answer): SIGKILL
 * the monitor and the QEMU recorded in the sandbox dir (pid + start time
 * checked), then remove sockets and pid files. Idempotent.
 */
export async function forceStopVm(dir: string, monitorPid?: number): Promise<void> {
  const file = readPidFile(join(dir, MONITOR_PID_FILE));
  const pids = new Set<number>();
  if (file && isProcessAlive(file.pid, file.startTime)) pids.add(file.pid);
  if (monitorPid !== undefined && isProcessAlive(monitorPid) && isMonitorOf(monitorPid, dir)) pids.add(monitorPid);
  for (const pid of pids) {
    log.warn(`killing sandbox monitor ${pid} (${dir})`);
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* already gone */
    }
    await waitForExit(pid, 5000);
  }
  await killQemuByPidFile(dir);
  for (const f of [MONITOR_SOCKET, QMP_SOCKET, AGENT_SOCKET]) rmSync(socketPath(dir, f), { force: true });
  for (const f of [MONITOR_PID_FILE, QEMU_PID_FILE]) rmSync(join(dir, f), { force: true });
}

/** A pid we spawned is ours only if its cwd is still the sandbox dir (guards against pid reuse). */
function isMonitorOf(pid: number, dir: string): boolean {
  try {
    return readlinkSync(`/proc/${pid}/cwd`) === dir;
  } catch {
    return false;
  }
}

function rootOf(spec: VmSpec): string {
  const parent = dirname(spec.dir);
  if (basename(spec.dir) !== spec.sandboxId || basename(parent) !== "sandboxes") {
    throw new MonitorError(`sandbox dir ${spec.dir} is not <root>/sandboxes/${spec.sandboxId}`);
  }
  return dirname(parent);
}

function readVmStateQuiet(dir: string): VmState | undefined {
  try {
    return readVmState(dir);
  } catch {
    return undefined;
  }
}

function notRunning(spec: VmSpec, state: VmState | undefined, cause?: unknown): HuskError {
  const what = state?.state === "stopped" ? ` (the VM stopped${state.exit?.signal ? `: qemu killed by ${state.exit.signal}` : ""})` : "";
  return new MonitorError(`sandbox monitor is not running for sandbox ${spec.sandboxId}${what}; \`husk delete --force\` removes it`, {
    cause,
    details: { sandboxId: spec.sandboxId, state: state?.state },
  });
}

function logBlock(dir: string): string {
  const tail = readTail(join(dir, MONITOR_LOG), 20);
  return tail ? `\n--- monitor log (last lines) ---\n${tail}` : "";
}
