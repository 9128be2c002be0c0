import type { Agent } from "../agent/types.ts";
import type { VmSpec, VmStatus } from "../hypervisor/types.ts";

/**
 * What the lifecycle core (src/api.ts) needs from a sandbox's VM, wherever
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
