import type { OciProcess, OciResources } from "../../oci/spec.ts";
import type { WaitResult } from "../../host/ffi/process.ts";

/**
 * What the guest agent needs from a container runtime. CrunRuntime is the
 * real one; unit tests use a fake so the server logic runs on the host.
 */

/** How a process gets its stdio: fds (pipes or /dev/null) or a terminal via a console socket. */
export type RuntimeIo = { kind: "fds"; stdin: number; stdout: number; stderr: number } | { kind: "terminal"; consoleSocket: string };

export interface StartedProcess {
  /** Pid in the guest's pid namespace. */
  pid: number;
  /**
   * Resolves with the exit status when the runtime itself knows it (exec in
   * the foreground, fakes). Absent for a container's init: the agent reaps
   * it as child subreaper.
   */
  exited?: Promise<WaitResult>;
}

export interface ContainerRuntime {
  /** Create (not start) the container from bundleDir/config.json. */
  create(containerId: string, bundleDir: string, io: RuntimeIo): Promise<StartedProcess>;
  start(containerId: string): Promise<void>;
  /** Run another process in the container; resolves once it runs (pid known). */
  exec(containerId: string, execId: string, bundleDir: string, process: OciProcess, io: RuntimeIo): Promise<StartedProcess>;
  kill(containerId: string, signal: number, all: boolean): Promise<void>;
  delete(containerId: string, force: boolean): Promise<void>;
  pause(containerId: string): Promise<void>;
  resume(containerId: string): Promise<void>;
  /** Pids of every process in the container. */
  pids(containerId: string): Promise<number[]>;
  update(containerId: string, bundleDir: string, resources: OciResources): Promise<void>;
}
