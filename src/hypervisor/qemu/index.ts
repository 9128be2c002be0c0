import { accessSync, constants, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { QEMU_LOG_FILE, QEMU_PID_FILE } from "../../host/layout.ts";
import { pollUntil } from "../../host/time.ts";
import { HypervisorError, UnsupportedError } from "../../host/errors.ts";
import { logger } from "../../host/log.ts";
import type {
  AgentEndpoint,
  DeviceSpec,
  Hypervisor,
  HypervisorCapabilities,
  VmExit,
  VmSpec,
  VmStatus,
} from "../types.ts";
import { AGENT_VSOCK_PORT, buildLaunchCommand, buildQemuArgs, type Confinement, QEMU_CAPABILITIES, QEMU_RLIMITS, qemuUid, qmpFdSocket } from "./args.ts";
import { readTail } from "./console.ts";
import { JAIL_DEVICES, ROOT_ENTRIES, ROOT_FILES, type RootView } from "./jail.ts";
import { mountFs, unmountFs } from "../../host/ffi/process.ts";
import { imageManifestFor, withImageParams } from "./image.ts";
import { detectAccelerator, type HostFacts } from "./host.ts";
import { livePid, readPidFile, writePidFile } from "./pidfile.ts";
import { probeHost, resolveBinary } from "./probe.ts";
import { spawnQemu, type QemuProcess } from "./process.ts";
import { placeInHostCgroup } from "../../host/cgroup.ts";
import { QmpClient } from "./qmp.ts";
import { restoreDeviceState, saveDeviceState } from "./template.ts";

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
    const spec = withImageParams(given, await imageManifestFor(given.kernel).catch((e: unknown) => {
      throw new HypervisorError(`guest image next to ${given.kernel}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }));
    const binary = resolveBinary(spec.binary);
    if (!binary) {
      throw new HypervisorError(
        `qemu binary ${JSON.stringify(spec.binary)} not found${spec.binary.includes("/") ? "" : " on PATH"} (install qemu-system-x86 or set hypervisor.path)`,
        { details: { binary: spec.binary } },
      );
    }
    mustRead(spec.kernel, "kernel", "hypervisor.kernel");
    if (spec.initrd) mustRead(spec.initrd, "initramfs", "hypervisor.initrd");
    if (spec.image) mustRead(spec.image, "disk image", "hypervisor.image");
    mustBeDir(spec.dir, "sandbox directory");
    mustBeDir(spec.sharedDir, "shared directory");
    if (spec.agentDir) mustBeDir(spec.agentDir, "agent directory");
    if (spec.network?.nics.length && spec.template?.mode !== "save") {
      if (!existsSync(spec.network.netns)) throw new HypervisorError(`network namespace ${spec.network.netns} does not exist`);
      this.nsenter = resolveBinary("nsenter");
      if (!this.nsenter) throw new HypervisorError("nsenter not found on PATH (install util-linux): QEMU must join the container's network namespace");
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
      await Promise.race([Bun.sleep(20), proc.exited]);
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
    if (!proc || !proc.alive()) return;
    const exited = proc.exited.then(() => true);
    const within = (ms: number) => Promise.race([exited, Bun.sleep(ms).then(() => false)]);
    const acpi = !this.spec!.kernelParams.includes("acpi=off");
    if (acpi && this.qmp) {
      await this.qmp.execute("system_powerdown", undefined, { timeoutMs: 2000 }).catch((e) => log.debug(`powerdown: ${e}`));
      if (await within(Math.floor(timeoutMs / 2))) return;
    }
    if (this.qmp) {
      // quit ends QEMU at once; the guest's disks are read-only, so nothing is lost.
      await this.qmp.execute("quit", undefined, { timeoutMs: 2000 }).catch((e) => log.debug(`quit: ${e}`));
      if (await within(Math.max(1000, Math.floor(timeoutMs / 2)))) return;
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
    if (!this.proc || !this.proc.alive() || !this.qmp) return "stopped";
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

/**
 * Force path for `delete --force` and crashed monitors: SIGKILL the QEMU
 * recorded in <dir>/qemu.pid if that pid is still the same process, wait
 * for it to go. Returns the pid killed, if any.
 */
export async function killQemuByPidFile(dir: string, timeoutMs = 5000): Promise<number | undefined> {
  const file = readPidFile(join(dir, QEMU_PID_FILE));
  if (!file) return undefined;
  const pid = livePid(file);
  if (pid === undefined) return undefined;
  log.warn(`killing leftover qemu ${pid} (from ${dir})`);
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return undefined;
  }
  await pollUntil(() => livePid(file) === undefined, { timeoutMs, intervalMs: 20 });
  return pid;
}

/** The empty directory QEMU's tmpfs root is mounted on, in its own mount namespace only. */
export const JAIL_DIR = "/run/husk-qemu-jail";
const MS_BIND = 0x1000;
const MS_SHARED = 0x100000;

/**
 * Make dir a mount point of its own with shared propagation (bind onto
 * itself), unless it is one already. True when the bind was made here.
 */
export function makeSharedMount(dir: string): boolean {
  const points = readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((l) => l.split(" ")[4]);
  const escaped = dir.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
  try {
    const bind = !points.includes(escaped);
    if (bind) mountFs(dir, dir, "", "", MS_BIND);
    mountFs("none", dir, "", "", MS_SHARED);
    return bind;
  } catch (err) {
    throw new HypervisorError(`cannot make ${dir} a shared mount for QEMU's mount namespace: ${(err as Error).message}`, { cause: err });
  }
}

/** What the host's root looks like, for the jail: which top-level entries are links or directories, which devices exist. */
export function probeRootView(sh: string): RootView {
  const links: RootView["links"] = [];
  const dirs: string[] = [];
  for (const p of ROOT_ENTRIES) {
    try {
      const st = lstatSync(p);
      if (st.isSymbolicLink()) links.push({ path: p, target: readlinkSync(p) });
      else if (st.isDirectory()) dirs.push(p);
    } catch {
      /* absent */
    }
  }
  try {
    mkdirSync(JAIL_DIR, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new HypervisorError(`cannot make ${JAIL_DIR} (the mount point of QEMU's root in its own namespace): ${(err as Error).message}`, { cause: err });
  }
  return { sh, jailDir: JAIL_DIR, links, dirs, files: ROOT_FILES.filter((f) => existsSync(f)), devices: JAIL_DEVICES.filter((d) => existsSync(d)) };
}

/**
 * The confinement wrapper's programs (util-linux), or E_HYPERVISOR naming the
 * missing one: QEMU never starts unconfined by accident. QEMU's uid comes from
 * the pid of this process, its owner (qemuUid).
 */
export function resolveConfinement(path?: string, euid = process.geteuid?.() ?? 0): Confinement {
  const found = (name: string) => {
    const bin = resolveBinary(name, path);
    if (!bin) throw new HypervisorError(`${name} not found on PATH (install util-linux): husk confines QEMU with it`, { details: { binary: name } });
    return bin;
  };
  const tools = { unshare: found("unshare"), prlimit: found("prlimit"), setpriv: found("setpriv") };
  // Not root (a test setup): nothing to drop, no uid to change to; the rest still applies.
  if (euid !== 0) return { ...tools, capabilities: [], ...QEMU_RLIMITS, unprivileged: true };
  return { ...tools, capabilities: QEMU_CAPABILITIES, ...QEMU_RLIMITS, uid: qemuUid(process.pid), root: probeRootView(found("sh")) };
}

function mustRead(path: string, what: string, key: string): void {
  try {
    if (!statSync(path).isFile()) throw new Error("not a regular file");
    accessSync(path, constants.R_OK);
  } catch (err) {
    throw new HypervisorError(`${what} ${path} not found or not readable (${key}; run \`husk image build\`?): ${(err as Error).message}`, {
      details: { path },
    });
  }
}

function mustBeDir(path: string, what: string): void {
  let ok = false;
  try {
    ok = statSync(path).isDirectory();
  } catch {
    /* missing */
  }
  if (!ok) throw new HypervisorError(`${what} ${path} does not exist or is not a directory`, { details: { path } });
}

export function describeExit(e: { code: number | null; signal: string | null }): string {
  return e.signal ? `killed by ${e.signal}` : `exit code ${e.code}`;
}

export function tailBlock(title: string, tail: string): string {
  return tail ? `\n--- ${title} (last lines) ---\n${tail}` : "";
}
