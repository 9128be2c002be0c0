import { existsSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { QEMU_LOG_FILE, QEMU_PID_FILE } from "../../host/layout.ts";
import { HypervisorError, UnsupportedError } from "../../host/errors.ts";
import { logger } from "../../host/log.ts";
import { settledWithin } from "../../host/time.ts";
import type { AgentEndpoint, DeviceSpec, Hypervisor, HypervisorCapabilities, VmExit, VmSpec, VmStatus } from "../types.ts";
import { AGENT_VSOCK_PORT, buildLaunchCommand, buildQemuArgs, type Confinement, qmpFdSocket } from "./args.ts";
import { readTail } from "./console.ts";
import { unmountFs } from "../../host/ffi/process.ts";
import { imageManifestFor, withImageParams } from "./image.ts";
import { detectAccelerator, type HostFacts } from "./host.ts";
import { writePidFile } from "./pidfile.ts";
import { probeHost, resolveBinary } from "./probe.ts";
import { spawnQemu, type QemuProcess } from "./process.ts";
import { placeInHostCgroup } from "../../host/cgroup.ts";
import { QmpClient } from "./qmp.ts";
import { restoreDeviceState, saveDeviceState } from "./template.ts";

import { checkSpecFiles } from "../spec-files.ts";
import { makeSharedMount, resolveConfinement } from "./host-view.ts";
import { describeExit, killQemuByPidFile, tailBlock } from "./leftovers.ts";
export { buildQemuArgs, buildKernelCmdline, buildMachine } from "./args.ts";

export { detectAccelerator, parseCpuInfo, type HostFacts } from "./host.ts";

export { QmpClient } from "./qmp.ts";

export { readTail } from "./console.ts";

const log = logger("qemu");

/** Files the driver keeps in spec.dir besides the spec's sockets and console log. */

/** sun_path is 108 bytes including the NUL. */
const MAX_SOCKET_PATH = 107;

export interface QemuHypervisorOptions {
  /** Host facts; probed from /proc and /dev when absent. */
  host?: HostFacts;
  /** Agent transport: vsock needs /dev/vhost-vsock (and a host client able to dial AF_VSOCK). */
  transport?: "virtio-serial" | "vsock";
  vsockCid?: number;
  /** Default for stop(): powerdown/quit grace before SIGKILL. */
  stopTimeoutMs?: number;
  /**
   * Confine QEMU (seccomp -sandbox, no_new_privs, capabilities, rlimits;
   * docs/security.md). On unless false: false exists for measurements only.
   */
  confine?: boolean;
}

export class QemuHypervisor implements Hypervisor {
  readonly name = "qemu";
  private host: HostFacts | undefined;
  private spec: VmSpec | undefined;
  private args: string[] | undefined;
  private binary: string | undefined;
  /** nsenter, resolved when the VM has NICs in a network namespace. */
  private nsenter: string | undefined;
  private confinement: Confinement | undefined;
  private proc: QemuProcess | undefined;
  private qmp: QmpClient | undefined;
  private exit: Promise<VmExit> | undefined;
  private stopping: Promise<void> | undefined;
  /** The share was bound onto itself by this driver (confinement): cleanup undoes it. */
  private boundShare = false;

  constructor(private readonly options: QemuHypervisorOptions = {}) {
    this.host = options.host;
  }

  private facts(): HostFacts {
    return (this.host ??= probeHost());
  }

  async capabilities(): Promise<HypervisorCapabilities> {
    const host = this.facts();
    const { accelerator } = detectAccelerator(this.spec?.accelerator ?? "auto", host.cpuFlags, host.kvmOpens);
    return { accelerator, vsock: host.vhostVsock, pause: true, hotplug: false };
  }

  /** Everything that can be checked without starting anything; errors name the missing file. */
  async prepare(given: VmSpec): Promise<void> {
    const spec = withImageParams(
      given,
      await imageManifestFor(given.kernel).catch((e: unknown) => {
        throw new HypervisorError(`guest image next to ${given.kernel}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }),
    );
    const binary = resolveBinary(spec.binary);
    if (!binary) {
      throw new HypervisorError(
        `qemu binary ${JSON.stringify(spec.binary)} not found${spec.binary.includes("/") ? "" : " on PATH"} (install qemu-system-x86 or set hypervisor.path)`,
        { details: { binary: spec.binary } },
      );
    }
    checkSpecFiles(spec);
    if (spec.network?.nics.length && spec.template?.mode !== "save") {
      if (!existsSync(spec.network.netns)) throw new HypervisorError(`network namespace ${spec.network.netns} does not exist`);
      this.nsenter = resolveBinary("nsenter");
      if (!this.nsenter)
        throw new HypervisorError("nsenter not found on PATH (install util-linux): QEMU must join the container's network namespace");
    }
    if (this.options.confine !== false) this.confinement = resolveConfinement();
    for (const sock of [spec.qmpSocket, spec.agentSocket]) {
      if (Buffer.byteLength(sock) > MAX_SOCKET_PATH) {
        throw new HypervisorError(`socket path ${sock} is longer than ${MAX_SOCKET_PATH} bytes (use a shorter --root or sandbox id)`);
      }
    }
    const host = this.facts();
    const choice = detectAccelerator(spec.accelerator, host.cpuFlags, host.kvmOpens);
    if (choice.warning) log.warn(choice.warning);
    if (choice.accelerator === "tcg" && host.tscKhz === undefined) {
      log.warn("host TSC frequency unknown: tsc_early_khz not set; microvm guests may hang at TSC calibration");
    }
    let vsockCid: number | undefined;
    if (this.options.transport === "vsock") {
      if (!host.vhostVsock) throw new HypervisorError("agent transport vsock requested but /dev/vhost-vsock does not exist");
      vsockCid = this.options.vsockCid;
      if (vsockCid === undefined) throw new HypervisorError("agent transport vsock needs a guest cid");
    }
    this.args = buildQemuArgs(spec, host, { vsockCid, seccomp: this.options.confine !== false });
    this.binary = binary;
    this.spec = spec;
  }

  async start(): Promise<{ pid: number }> {
    const spec = this.requireSpec();
    if (this.proc) throw new HypervisorError("qemu already started for this driver instance");
    // Stale sockets from a crashed run would make QEMU fail to bind.
    for (const f of [spec.qmpSocket, spec.agentSocket, qmpFdSocket(spec)]) rmSync(f, { force: true });
    const logPath = join(spec.dir, QEMU_LOG_FILE);
    // In its own mount namespace QEMU sees the share as a slave of the host's: a rootfs mounted
    // into it later (a pod's next container) must propagate, so the host side is a shared mount.
    // A template's share stays empty. The sandbox's removal unmounts it (core unmountAll).
    if (this.confinement?.root && spec.template?.mode !== "save") this.boundShare = makeSharedMount(spec.sharedDir);
    const proc = spawnQemu(buildLaunchCommand(this.binary!, this.args!, spec, this.nsenter, this.confinement), { cwd: spec.dir, logPath });
    this.proc = proc;
    // Before the guest touches its memory: charges do not follow a process that moves later.
    placeInHostCgroup(spec.hostCgroup, [process.pid, proc.pid]);
    writePidFile(join(spec.dir, QEMU_PID_FILE), proc.pid, spec.qmpSocket);
    this.exit = proc.exited.then((e) => ({ ...e, consoleTail: readTail(spec.consoleLog) }));
    try {
      this.qmp = await this.connectQmp(spec, proc, Math.min(spec.bootTimeoutMs, 30_000));
    } catch (err) {
      proc.kill("SIGKILL");
      const exit = await this.exit;
      throw new HypervisorError(
        `qemu failed to start (${describeExit(exit)}): ${err instanceof Error ? err.message : String(err)}` +
          tailBlock("qemu output", readTail(logPath, 15)) +
          tailBlock("console", exit.consoleTail),
        { cause: err, details: { pid: proc.pid } },
      );
    }
    log.info(`qemu started: pid ${proc.pid}, machine ${spec.machine}`);
    return { pid: proc.pid };
  }

  /** QEMU creates the QMP socket shortly after exec; retry until it answers, QEMU dies, or the deadline. */
  private async connectQmp(spec: VmSpec, proc: QemuProcess, timeoutMs: number): Promise<QmpClient> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      if (!proc.alive()) throw new HypervisorError("qemu exited before its qmp socket answered");
      if (existsSync(spec.qmpSocket)) {
        try {
          return await QmpClient.connect(spec.qmpSocket, { timeoutMs: Math.max(1000, deadline - Date.now()) });
        } catch (err) {
          last = err;
        }
      }
      await settledWithin(proc.exited, 20);
    }
    throw new HypervisorError(`qmp socket ${spec.qmpSocket} did not answer within ${timeoutMs} ms`, { cause: last });
  }

  wait(): Promise<VmExit> {
    if (!this.exit) return Promise.reject(new HypervisorError("qemu was not started"));
    return this.exit;
  }

  /**
   * Graceful first, then force: ACPI powerdown (only if the guest has ACPI),
   * QMP quit, SIGKILL. The guest's agent shutdown is the caller's job, before this.
   */
  stop(options: { timeoutMs?: number } = {}): Promise<void> {
    return (this.stopping ??= this.doStop(options.timeoutMs ?? this.options.stopTimeoutMs ?? 10_000));
  }

  private async doStop(timeoutMs: number): Promise<void> {
    const proc = this.proc;
    if (!proc?.alive()) return;
    const acpi = !this.spec!.kernelParams.includes("acpi=off");
    if (acpi && this.qmp) {
      await this.qmp.execute("system_powerdown", undefined, { timeoutMs: 2000 }).catch((e) => log.debug(`powerdown: ${e}`));
      if (await settledWithin(proc.exited, Math.floor(timeoutMs / 2))) return;
    }
    if (this.qmp) {
      // quit ends QEMU at once; the guest's disks are read-only, so nothing is lost.
      await this.qmp.execute("quit", undefined, { timeoutMs: 2000 }).catch((e) => log.debug(`quit: ${e}`));
      if (await settledWithin(proc.exited, Math.max(1000, Math.floor(timeoutMs / 2)))) return;
    }
    log.warn(`qemu ${proc.pid} did not exit: SIGKILL`);
    proc.kill("SIGKILL");
    await proc.exited;
  }

  async saveTemplate(): Promise<{ stateBytes: number }> {
    const spec = this.requireSpec();
    if (spec.template?.mode !== "save") throw new HypervisorError("qemu driver: this VM was not started as a template");
    await saveDeviceState(this.requireQmp(), this.proc!, spec, Math.min(spec.bootTimeoutMs, 60_000));
    return { stateBytes: statSync(join(spec.template.dir, "state")).size };
  }

  async restoreTemplate(): Promise<void> {
    const spec = this.requireSpec();
    if (spec.template?.mode !== "restore") throw new HypervisorError("qemu driver: this VM was not started as a clone");
    await restoreDeviceState(this.requireQmp(), this.proc!, spec, Math.min(spec.bootTimeoutMs, 30_000));
  }

  async pause(): Promise<void> {
    await this.requireQmp().execute("stop");
  }

  async resume(): Promise<void> {
    await this.requireQmp().execute("cont");
  }

  async status(): Promise<VmStatus> {
    if (!this.proc?.alive() || !this.qmp) return "stopped";
    try {
      const s = await this.qmp.queryStatus({ timeoutMs: 5000 });
      if (s.running) return "running";
      return s.status === "paused" || s.status === "suspended" ? "paused" : "stopped";
    } catch (err) {
      if (!this.proc.alive()) return "stopped";
      throw err;
    }
  }

  async addDevice(device: DeviceSpec): Promise<void> {
    throw new UnsupportedError(`qemu driver: hot-adding a ${device.kind} device is not supported (capabilities().hotplug is false)`);
  }

  agentEndpoint(): AgentEndpoint {
    const spec = this.requireSpec();
    if (this.options.transport === "vsock") return { kind: "vsock", cid: this.options.vsockCid!, port: AGENT_VSOCK_PORT };
    return { kind: "unix", path: spec.agentSocket };
  }

  /** Kill what is left (ours, or a QEMU recorded in the pid file by a crashed owner) and remove sockets and the pid file. */
  async cleanup(): Promise<void> {
    const spec = this.spec;
    if (!spec) return;
    this.qmp?.close();
    if (this.proc?.alive()) {
      this.proc.kill("SIGKILL");
      await this.proc.exited;
    }
    await killQemuByPidFile(spec.dir);
    for (const f of [spec.qmpSocket, spec.agentSocket, qmpFdSocket(spec), join(spec.dir, QEMU_PID_FILE)]) rmSync(f, { force: true });
    // The share's bind onto itself is ours: undone, unless containers' rootfs are still mounted
    // beneath it (EBUSY: the core's removal of the sandbox unmounts everything under it).
    if (this.boundShare) {
      this.boundShare = false;
      try {
        unmountFs(spec.sharedDir);
      } catch (e) {
        log.debug(`share ${spec.sharedDir} stays mounted: ${(e as Error).message}`);
      }
    }
  }

  private requireSpec(): VmSpec {
    if (!this.spec) throw new HypervisorError("qemu driver: prepare() was not called");
    return this.spec;
  }

  private requireQmp(): QmpClient {
    if (!this.qmp || !this.proc?.alive()) throw new HypervisorError("qemu is not running");
    return this.qmp;
  }
}
