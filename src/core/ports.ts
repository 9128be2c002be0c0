import type { Agent } from "../agent/types.ts";
import type { HuskConfig } from "../config/schema.ts";
import type { VmNetwork, VmSpec, VmStatus } from "../hypervisor/types.ts";
import type { OciProcess, OciSpec, OciState } from "../oci/spec.ts";
import * as v from "valibot";

/**
 * The core's ports: everything the lifecycle core needs from outside it,
 * as interfaces. The real implementations live above the core (MonitorBackend
 * in src/monitor, ShimLauncher in src/shim, the plugin Lifecycle in
 * src/plugins, wired by src/runtime); the test doubles live in test/support.
 */

/**
 * Everything an API call needs from outside the core. The CLI builds the
 * real one (MonitorBackend + shim launcher + plugin lifecycle) with
 * createContext; unit tests use createTestContext (mock drivers in process).
 */
export interface RuntimeContext {
  config: HuskConfig;
  /** State root (--root), e.g. /run/husk. */
  root: string;
  backend: VmBackend;
  launcher: ProcessLauncher;
  lifecycle: Lifecycle;
  /** Host directory holding the husk binary, exported to the guest as the agent (VmSpec.agentDir). */
  agentDir?: string;
  /** Give up waiting for a sandbox lock after this long (E_LOCKED); default: wait. */
  lockTimeoutMs?: number;
}

export interface ContextParts {
  config: HuskConfig;
  backend: VmBackend;
  launcher: ProcessLauncher;
  lifecycle?: Lifecycle;
  /** Defaults to config.runtime.root. */
  root?: string;
  agentDir?: string;
  lockTimeoutMs?: number;
}

export function createContext(parts: ContextParts): RuntimeContext {
  return {
    config: parts.config,
    root: parts.root ?? parts.config.runtime.root,
    backend: parts.backend,
    launcher: parts.launcher,
    lifecycle: parts.lifecycle ?? NOOP_LIFECYCLE,
    ...(parts.agentDir ? { agentDir: parts.agentDir } : {}),
    ...(parts.lockTimeoutMs !== undefined ? { lockTimeoutMs: parts.lockTimeoutMs } : {}),
  };
}

/**
 * What the lifecycle core (src/core/api.ts) needs from a sandbox's VM, wherever
 * the VM is owned:
 *  - MonitorBackend (real): spawns the detached `husk monitor <sid>` process,
 *    which owns QEMU through the Hypervisor driver and multiplexes the single
 *    agent channel; CLI processes and shims connect to <dir>/monitor.sock.
 *  - InProcessBackend (unit tests): drives a Hypervisor driver and an Agent
 *    directly in this process (mock hypervisor + mock agent).
 */
export interface VmBackend {
  readonly name: string;
  /** Boot the VM described by spec and wait until the agent answers. */
  boot(spec: VmSpec): Promise<VmHandle>;
  /** Attach to an already booted sandbox VM (from another process). */
  connect(spec: VmSpec): Promise<VmHandle>;
  /**
   * Kill whatever VM (and owner process) an interrupted operation may have
   * left for the sandbox in dir — e.g. a `husk create` killed with SIGKILL
   * after the monitor started but before the state recorded it — and remove
   * its sockets. Finds them from the pid files in dir; idempotent.
   */
  forceCleanup(dir: string): Promise<void>;
}

export interface VmHandle {
  /** The agent of this VM (through the monitor for the real backend). */
  readonly agent: Agent;
  /** Pid of the process owning the VM (monitor), for liveness checks. */
  readonly pid: number;
  status(): Promise<VmStatus>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Shut the VM down (agent shutdown / QMP powerdown, then kill); the monitor exits. */
  stop(): Promise<void>;
  /** Drop this process's connection; the VM keeps running. */
  close(): Promise<void>;
}

/**
 * How the core starts a process in the guest and gets a host pid for it.
 * The real launcher (src/shim/launcher.ts) spawns a detached `husk shim`
 * that opens its own connection to the sandbox monitor, asks the agent to
 * create the container (or exec), relays stdio between its inherited fds
 * (or a pty sent to --console-socket) and the guest, forwards signals and
 * exits with the process's exit status: its pid is the container's pid for
 * the caller. The direct launcher (for unit tests) calls the agent in
 * process and reports this process's pid.
 */

/** A launch's io: checked when a container is created, stored in its record, sent to the shim. */
export const LaunchIoSchema = v.strictObject({
  /** Allocate a terminal (process.terminal). */
  terminal: v.boolean(),
  /** runc --console-socket (made absolute by the CLI): send the pty master here (SCM_RIGHTS). */
  consoleSocket: v.optional(v.pipe(v.string(), v.startsWith("/", "must be an absolute path"))),
  /** Write the host pid here (runc --pid-file). */
  pidFile: v.optional(v.string()),
  /** Detached: the shim outlives the CLI (create, exec -d, run -d). */
  detach: v.boolean(),
});
export type LaunchIo = v.InferOutput<typeof LaunchIoSchema>;

export type LaunchRequest =
  | {
      kind: "init";
      sandboxId: string;
      sandboxDir: string;
      containerId: string;
      /** Spec as the guest must see it (root.path is a guest path). */
      spec: OciSpec;
      io: LaunchIo;
    }
  | {
      kind: "exec";
      sandboxId: string;
      sandboxDir: string;
      containerId: string;
      execId: string;
      process: OciProcess;
      io: LaunchIo;
    };

export interface LaunchResult {
  /** Host pid standing for the process (the shim's pid). */
  pid: number;
  /** The process's pid inside the guest. */
  guestPid: number;
  /** For foreground launches: resolves with the exit code (128+signal when signalled). */
  exited?: Promise<number>;
}

export interface ProcessLauncher {
  launch(vm: VmHandle, request: LaunchRequest): Promise<LaunchResult>;
}

/**
 * The extension points the lifecycle core (src/core/api.ts) calls at fixed moments.
 * The real implementation (src/plugins/lifecycle.ts) runs the bundle's OCI
 * hooks and the loaded TypeScript plugins; NOOP_LIFECYCLE is for tests that
 * do not care. The order inside each point follows the OCI runtime spec.
 *
 * Methods documented "aborts" may throw: the api undoes the operation.
 * Methods documented "warns" must not throw: failures are logged.
 */

export interface SandboxPhaseContext {
  sandboxId: string;
  /** <root>/sandboxes/<sid> */
  sandboxDir: string;
  /** Spec of the sandbox's first container, when there is one. */
  spec?: OciSpec;
  bundle?: string;
  /** Network namespace path from the spec, when it names one. */
  netnsPath?: string;
  /** Present once the VM is up (absent at sandbox:prestart). */
  agent?: Agent;
  /** The size the core boots the VM with (config, the first container's limits and overrides applied). */
  vm?: { vcpus: number; memoryMiB: number };
}

export interface ContainerPhaseContext {
  sandboxId: string;
  sandboxDir: string;
  containerId: string;
  bundle: string;
  /**
   * The container's spec. At `containerCreate` it may be amended (plugins'
   * documented API); later phases receive a frozen copy.
   */
  spec: OciSpec;
  /** The OCI state hooks receive on stdin (status as of this phase). */
  state: OciState;
  netnsPath?: string;
  agent?: Agent;
}

/** What sandbox prestart adds to the VM before it boots. */
export interface SandboxPrestartResult {
  /** NICs plugged by plugins (`ctx.plugNic`), in the sandbox's network namespace. */
  network?: VmNetwork;
}

export interface Lifecycle {
  /** Before the VM boots. Plugins `sandbox:prestart`. Aborts. May add NICs to the VM. */
  sandboxPrestart(ctx: SandboxPhaseContext): Promise<SandboxPrestartResult | void>;
  /**
   * During create, before the agent creates the container, in this order:
   * plugins `policy:admit`, `storage:mount`, `container:prestart`.
   * May return an amended spec. Aborts (and undoes its own storage).
   */
  containerCreate(ctx: ContainerPhaseContext): Promise<OciSpec>;
  /**
   * During create, once the guest has created the container (ctx.state has
   * status "created" and the container's pid, as the runtime spec requires
   * on a hook's stdin): OCI prestart, OCI createRuntime, plugins
   * `network:attach`, OCI createContainer. Aborts (the core then removes
   * the container; its own network/storage work is undone).
   */
  containerCreated(ctx: ContainerPhaseContext): Promise<void>;
  /** During start, before the user process runs: OCI startContainer hooks. Aborts. */
  containerStart(ctx: ContainerPhaseContext): Promise<void>;
  /** After the user process started: OCI poststart, plugins `container:poststart`. Warns. */
  containerPoststart(ctx: ContainerPhaseContext): Promise<void>;
  /** After the container is deleted (or its create was undone): OCI poststop, plugins `container:poststop`. Warns. */
  containerPoststop(ctx: ContainerPhaseContext): Promise<void>;
  /** After the VM is gone. Plugins `sandbox:poststop`. Warns. */
  sandboxPoststop(ctx: SandboxPhaseContext): Promise<void>;
}

export const NOOP_LIFECYCLE: Lifecycle = {
  async sandboxPrestart() {},
  async containerCreate(ctx) {
    return ctx.spec;
  },
  async containerCreated() {},
  async containerStart() {},
  async containerPoststart() {},
  async containerPoststop() {},
  async sandboxPoststop() {},
};
