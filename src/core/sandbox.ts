import { existsSync, readdirSync } from "node:fs";
import type { RuntimeContext } from "./ports.ts";
import {
  ContainerRecordSchema,
  ContainerStateSchema,
  SandboxRecordSchema,
  SandboxStateSchema,
  type ContainerRecord,
  type ContainerState,
  type SandboxRecord,
  type SandboxState,
} from "./records.ts";
import { isProcessAlive } from "../host/proc.ts";
import { NotFoundError } from "../host/errors.ts";
import { logger } from "../host/log.ts";
import type { VmHandle } from "./ports.ts";
import { OCI_VERSION, type OciState } from "../oci/spec.ts";
import { assertTransition, ociStatus, type State } from "./status.ts";
import {
  containerConfigFile,
  containerStateFile,
  sandboxConfigFile,
  sandboxDir,
  sandboxStateFile,
  readJson,
  readJsonIfExists,
  writeJsonAtomic,
} from "../host/layout.ts";

/**
 * A sandbox as stored, loaded under its lock, and the only functions that
 * change a stored status (moveSandbox / moveContainer, guarded by
 * src/state.ts).
 */

const log = logger("sandbox");

export interface LoadedContainer {
  record: ContainerRecord;
  state: ContainerState;
}

export interface LoadedSandbox {
  record: SandboxRecord;
  state: SandboxState;
  containers: LoadedContainer[];
}

/** What listSandbox/statusSandbox report. */
export interface ContainerStatus {
  id: string;
  sandboxId: string;
  state: State;
  /** Host pid standing for the container (the shim), 0 when none. */
  pid: number;
  guestPid: number;
  bundle: string;
  rootfs: string;
  annotations: Record<string, string>;
  createdAt: string;
  startedAt?: string;
  /** Known once the container stopped and its exit status was recorded. */
  exitCode?: number;
}

export interface SandboxStatus {
  id: string;
  state: State;
  backend: string;
  /** Pid of the process owning the VM (monitor), 0 when none. */
  vmPid: number;
  annotations: Record<string, string>;
  createdAt: string;
  containers: ContainerStatus[];
}

export function loadSandbox(root: string, sid: string): LoadedSandbox {
  const record = readJson(sandboxConfigFile(root, sid), SandboxRecordSchema, `sandbox ${sid}`);
  // state.json is written right after sandbox.json; its absence means a create that crashed: treat as stopped.
  const state = readJsonIfExists(sandboxStateFile(root, sid), SandboxStateSchema, `state of sandbox ${sid}`) ?? {
    state: "stopped" as const,
    containers: [],
  };
  const containers: LoadedContainer[] = [];
  // A crash in the middle of a delete can leave a listed container without files: drop it, keep the sandbox usable.
  const present = state.containers.filter((cid) => existsSync(containerConfigFile(root, sid, cid)));
  if (present.length !== state.containers.length) {
    log.warn(`sandbox ${sid}: ignoring listed containers without files: ${state.containers.filter((c) => !present.includes(c)).join(", ")}`);
    state.containers = present;
  }
  for (const cid of state.containers) {
    containers.push({
      record: readJson(containerConfigFile(root, sid, cid), ContainerRecordSchema, `container ${cid}`),
      state: readJson(containerStateFile(root, sid, cid), ContainerStateSchema, `state of container ${cid}`),
    });
  }
  return { record, state, containers };
}

export function findContainer(sb: LoadedSandbox, cid: string): LoadedContainer {
  const c = sb.containers.find((x) => x.record.id === cid);
  if (!c) throw new NotFoundError(`container ${cid} not found in sandbox ${sb.record.id}`, { details: { containerId: cid, sandboxId: sb.record.id } });
  return c;
}

/** Container ids that have a directory (including ones a crashed create left unlisted). */
export function containerDirsOf(root: string, sid: string): string[] {
  try {
    return readdirSync(`${sandboxDir(root, sid)}/containers`);
  } catch {
    return [];
  }
}

export function saveSandboxState(root: string, sb: LoadedSandbox): void {
  writeJsonAtomic(sandboxStateFile(root, sb.record.id), sb.state);
}

export function saveContainer(root: string, sid: string, c: LoadedContainer): void {
  writeJsonAtomic(containerStateFile(root, sid, c.record.id), c.state);
}

export function saveContainerRecord(root: string, sid: string, c: LoadedContainer): void {
  writeJsonAtomic(containerConfigFile(root, sid, c.record.id), c.record);
}

export function moveSandbox(root: string, sb: LoadedSandbox, to: State): void {
  assertTransition("sandbox", sb.record.id, sb.state.state, to);
  sb.state = { ...sb.state, state: to };
  saveSandboxState(root, sb);
}

export function moveContainer(
  root: string,
  sid: string,
  c: LoadedContainer,
  to: State,
  patch: Partial<Omit<ContainerState, "state">> = {},
): void {
  assertTransition("container", c.record.id, c.state.state, to);
  const next: ContainerState = { ...c.state, ...patch, state: to };
  for (const k of Object.keys(next) as (keyof ContainerState)[]) if (next[k] === undefined) delete next[k];
  c.state = next;
  saveContainer(root, sid, c);
}

export function vmAlive(sb: LoadedSandbox): boolean {
  return sb.state.vmPid !== undefined && isProcessAlive(sb.state.vmPid, sb.state.vmPidStart);
}

/** Connect to the sandbox's VM for the duration of fn. */
export async function withVm<T>(ctx: RuntimeContext, sb: LoadedSandbox, fn: (vm: VmHandle) => Promise<T>): Promise<T> {
  const vm = await ctx.backend.connect(sb.record.vm);
  try {
    return await fn(vm);
  } finally {
    await closeQuietly(vm);
  }
}

/** Drop a VM connection; a failure to close (e.g. after stop) must not mask the operation's result. */
export async function closeQuietly(vm: VmHandle): Promise<void> {
  try {
    await vm.close();
  } catch (e) {
    log.debug(`closing the connection to the VM failed: ${(e as Error).message}`);
  }
}

export function containerStatusOf(sb: LoadedSandbox, c: LoadedContainer): ContainerStatus {
  return {
    id: c.record.id,
    sandboxId: sb.record.id,
    state: c.state.state,
    pid: c.state.pid,
    guestPid: c.state.guestPid,
    bundle: c.record.bundle,
    rootfs: c.record.rootfs,
    annotations: c.record.annotations,
    createdAt: c.record.createdAt,
    ...(c.state.startedAt ? { startedAt: c.state.startedAt } : {}),
    ...(c.state.exitCode !== undefined ? { exitCode: c.state.exitCode } : {}),
  };
}

export function sandboxStatusOf(sb: LoadedSandbox): SandboxStatus {
  return {
    id: sb.record.id,
    state: sb.state.state,
    backend: sb.record.backend,
    vmPid: sb.state.vmPid ?? 0,
    annotations: sb.record.annotations,
    createdAt: sb.record.createdAt,
    containers: sb.containers.map((c) => containerStatusOf(sb, c)),
  };
}

/** The OCI state of a container (runc state / hooks' stdin). */
export function ociStateOf(record: ContainerRecord, state: Pick<ContainerState, "state" | "pid">, override?: OciState["status"]): OciState {
  const status = override ?? ociStatus(state.state);
  return {
    ociVersion: record.spec.ociVersion || OCI_VERSION,
    id: record.id,
    status,
    ...(state.pid > 0 && status !== "stopped" ? { pid: state.pid } : {}),
    bundle: record.bundle,
    annotations: record.annotations,
  };
}

/** The OCI state of a reported container status. */
export function toOciState(status: ContainerStatus, ociVersion = OCI_VERSION): OciState {
  const s = ociStatus(status.state);
  return {
    ociVersion,
    id: status.id,
    status: s,
    ...(status.pid > 0 && s !== "stopped" ? { pid: status.pid } : {}),
    bundle: status.bundle,
    annotations: status.annotations,
  };
}
