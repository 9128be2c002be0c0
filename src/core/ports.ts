import type { OciProcess, OciSpec } from "./oci/spec.ts";
import type { VmHandle } from "./monitor/types.ts";

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

export interface LaunchIo {
  /** Allocate a terminal (process.terminal). */
  terminal: boolean;
  /** runc --console-socket: send the pty master here (SCM_RIGHTS). */
  consoleSocket?: string;
  /** Write the host pid here (runc --pid-file). */
  pidFile?: string;
  /** Detached: the shim outlives the CLI (create, exec -d, run -d). */
  detach: boolean;
}

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
