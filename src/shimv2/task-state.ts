import { create } from "@bufbuild/protobuf";
import { timestampFromDate, type Any } from "@bufbuild/protobuf/wkt";
import { InvalidSpecError } from "../host/errors.ts";
import type { OciProcess } from "../oci/spec.ts";
import { closeFds } from "./fifo.ts";
import * as T from "./task-messages.ts";
import type { Status } from "./gen/containerd/types/task_pb.ts";

/** What the task service (./service.ts) keeps per task and process, and the helpers over it. */

export interface Stdio {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

export interface Proc {
  /** "" for the init process. */
  execId: string;
  stdio: Stdio;
  /** exec'd processes: their OCI process until started. */
  process?: OciProcess;
  pid: number;
  state: "created" | "running" | "stopped";
  exit?: { status: number; at: Date };
  exited: Promise<void>;
  markExited: () => void;
  /** Our write end of the stdin fifo until CloseIO or the exit. */
  stdinKeeper?: number;
}

export interface Task {
  id: string;
  sandboxId: string;
  bundle: string;
  /** The rootfs we mounted from containerd's mounts (unmounted at Delete). */
  mountedRootfs?: string;
  init: Proc;
  execs: Map<string, Proc>;
  stopOomWatch?: () => Promise<void>;
  deleting: boolean;
}

export function newProc(execId: string, stdio: Stdio, process?: OciProcess): Proc {
  let markExited!: () => void;
  const exited = new Promise<void>((r) => (markExited = r));
  return { execId, stdio, ...(process ? { process } : {}), pid: 0, state: "created", exited, markExited };
}

export function closeStdinKeeper(p: Proc): void {
  if (p.stdinKeeper === undefined) return;
  closeFds([p.stdinKeeper]);
  delete p.stdinKeeper;
}

export function stdioKey(containerId: string, execId: string): string {
  return `${containerId}/${execId}`;
}

export function describe(t: Task, p: Proc): string {
  return p.execId ? `process ${p.execId} of task ${t.id}` : `task ${t.id}`;
}

export function deleteResponse(p: Proc): T.DeleteResponse {
  return create(T.DeleteResponseSchema, {
    pid: p.pid,
    exitStatus: p.exit?.status ?? 0,
    ...(p.exit ? { exitedAt: timestampFromDate(p.exit.at) } : {}),
  });
}

export function stateResponse(t: Task, p: Proc, status: Status): T.StateResponse {
  return create(T.StateResponseSchema, {
    id: t.id,
    execId: p.execId,
    bundle: t.bundle,
    pid: p.pid,
    status,
    stdin: p.stdio.stdin,
    stdout: p.stdio.stdout,
    stderr: p.stdio.stderr,
    terminal: p.stdio.terminal,
    exitStatus: p.exit?.status ?? 0,
    ...(p.exit ? { exitedAt: timestampFromDate(p.exit.at) } : {}),
  });
}

/** containerd sends OCI JSON (a Process, LinuxResources) in an Any whose value is the JSON text. */
export function anyJson(any: Any | undefined, what: string): unknown {
  if (!any) throw new InvalidSpecError(`${what} is missing`);
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(any.value));
  } catch (e) {
    throw new InvalidSpecError(`${what} (${any.typeUrl}) is not JSON: ${(e as Error).message}`);
  }
}
