import type { ProcessStreams } from "../../src/agent/types.ts";
import type { LaunchRequest, LaunchResult, ProcessLauncher } from "../../src/core/ports.ts";
import type { VmHandle } from "../../src/core/ports.ts";
import { writeFileSync } from "node:fs";

/**
 * DirectLauncher: a ProcessLauncher for unit tests. It calls the agent in
 * this process (no shim) and reports this process's pid as the host pid,
 * unless `hostPid` supplies a stand-in (tests use a `sleep` they can kill
 * to play a dead shim). Foreground launches resolve `exited` from the
 * agent's waitProcess. The host ends of the stdio streams are kept per
 * process for tests to read and write.
 */

export interface DirectLauncherOptions {
  hostPid?: (request: LaunchRequest) => number;
}

export class DirectLauncher implements ProcessLauncher {
  private readonly streamsByProcess = new Map<string, ProcessStreams>();

  constructor(private readonly options: DirectLauncherOptions = {}) {}

  /** Host ends of a launched process's stdio (init when execId is absent). */
  streams(containerId: string, execId?: string): ProcessStreams | undefined {
    return this.streamsByProcess.get(`${containerId}/${execId ?? ""}`);
  }

  async launch(vm: VmHandle, request: LaunchRequest): Promise<LaunchResult> {
    const terminal = request.io.terminal;
    const { stdio, streams } = vm.agent.openStdio({ terminal, stdin: true, stdout: true, stderr: !terminal });
    const execId = request.kind === "exec" ? request.execId : undefined;
    const { pid: guestPid } =
      request.kind === "init"
        ? await vm.agent.call("createContainer", { containerId: request.containerId, spec: request.spec, stdio })
        : await vm.agent.call("exec", { containerId: request.containerId, execId: request.execId, process: request.process, stdio });
    this.streamsByProcess.set(`${request.containerId}/${execId ?? ""}`, streams);
    const pid = this.options.hostPid?.(request) ?? process.pid;
    if (request.io.pidFile) writeFileSync(request.io.pidFile, String(pid), { mode: 0o600 });
    if (request.io.detach) return { pid, guestPid };
    const exited = vm.agent
      .call("waitProcess", { containerId: request.containerId, ...(execId ? { execId } : {}) })
      .then((r) => (r.signal ? 128 + r.signal : r.exitCode));
    exited.catch(() => {}); // the caller awaits it; never an unhandled rejection
    return { pid, guestPid, exited };
  }
}
