import { existsSync, readdirSync } from "node:fs";
import type { RuntimeContext } from "./ports.ts";
import * as v from "valibot";
import {
  ContainerRecordHeadSchema,
  ContainerRecordSchema,
  ContainerStateSchema,
  SandboxRecordHeadSchema,
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
import { assertTransition, ociStatus, type Status } from "./status.ts";
import { containerConfigFile, containerStateFile, sandboxConfigFile, sandboxDir, sandboxStateFile } from "../host/layout.ts";
import { parseStored, readJson, readJsonIfExists, writeJsonAtomic } from "../host/json-file.ts";

/**
 * A sandbox as stored, loaded under its lock, and the only functions that
 * change a stored status (moveSandbox / moveContainer, through the
 * transitions in ./status.ts).
 */

const log = logger("sandbox");

export interface LoadedContainer {
  record: ContainerRecord;
  /** state.json: what is (status, pids, exit code). */
  current: ContainerState;
}

export interface LoadedSandbox {
  record: SandboxRecord;
  /** state.json: what is (status, containers, VM owner). */
  current: SandboxState;
  containers: LoadedContainer[];
}

/** What listSandbox/statusSandbox report. */
export interface ContainerStatus {
  id: string;
  sandboxId: string;
  state: Status;
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
  state: Status;
  backend: string;
  /** Pid of the process owning the VM (monitor), 0 when none. */
  vmPid: number;
  annotations: Record<string, string>;
  createdAt: string;
  containers: ContainerStatus[];
}

/**
 * Read a sandbox's files, each checked against its schema (a bad one is
 * E_INTERNAL naming the file and key). With deferSpecs (status and list,
 * which read no spec) the specs are checked at first use instead.
 */
export function loadSandbox(root: string, sid: string, deferSpecs = false): LoadedSandbox {
  const sandboxDeferred = deferSpecs ? SANDBOX_SPECS : undefined;
  const containerDeferred = deferSpecs ? CONTAINER_SPECS : undefined;
  const record = readRecord(sandboxConfigFile(root, sid), `sandbox ${sid}`, SandboxRecordSchema, sandboxDeferred);
  // state.json is written right after sandbox.json; its absence means a create that crashed: treat as stopped.
  const state = readJsonIfExists(sandboxStateFile(root, sid), SandboxStateSchema, `state of sandbox ${sid}`) ?? {
    state: "stopped" as const,
    containers: [],
  };
  const containers: LoadedContainer[] = [];
  // A crash in the middle of a delete can leave a listed container without files: drop it, keep the sandbox usable.
  const present = state.containers.filter((cid) => existsSync(containerConfigFile(root, sid, cid)));
  if (present.length !== state.containers.length) {
    log.warn(
      `sandbox ${sid}: ignoring listed containers without files: ${state.containers.filter((c) => !present.includes(c)).join(", ")}`,
    );
    state.containers = present;
  }
  for (const cid of state.containers) {
    containers.push({
      record: readRecord(containerConfigFile(root, sid, cid), `container ${cid}`, ContainerRecordSchema, containerDeferred),
      current: readJson(containerStateFile(root, sid, cid), ContainerStateSchema, `state of container ${cid}`),
    });
  }
  return { record, current: state, containers };
}

interface Deferred {
  /** The schema with the deferred keys unchecked (v.unknown). */
  head: v.GenericSchema;
  keys: readonly string[];
}
const SANDBOX_SPECS: Deferred = { head: SandboxRecordHeadSchema, keys: ["vm"] };
const CONTAINER_SPECS: Deferred = { head: ContainerRecordHeadSchema, keys: ["spec", "guestSpec"] };

/**
 * readJson, or with `deferred` the record checked but for its deferred keys,
 * which are checked at the first read of any of them. Any failure is
 * reported by the whole schema: the same E_INTERNAL, naming the same key, as
 * a read that checks everything at once.
 */
function readRecord<S extends v.GenericSchema>(path: string, what: string, schema: S, deferred?: Deferred): v.InferOutput<S> {
  if (!deferred) return readJson(path, schema, what);
  const json = readJson(path, v.unknown(), what);
  const head = v.safeParse(deferred.head, json);
  if (!head.success) return parseStored(path, schema, json);
  const out = head.output as Record<string, unknown>;
  let checked: Record<string, unknown> | undefined;
  const settle = (key: string, value: unknown) =>
    Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true });
  for (const key of deferred.keys) {
    if (!(key in out)) continue;
    Object.defineProperty(out, key, {
      enumerable: true,
      configurable: true,
      get() {
        checked ??= parseStored(path, schema, json) as Record<string, unknown>;
        settle(key, checked[key]);
        return checked[key];
      },
      set: (value: unknown) => settle(key, value),
    });
  }
  return out as v.InferOutput<S>;
}

export function findContainer(sb: LoadedSandbox, cid: string): LoadedContainer {
  const c = sb.containers.find((x) => x.record.id === cid);
  if (!c)
    throw new NotFoundError(`container ${cid} not found in sandbox ${sb.record.id}`, {
      details: { containerId: cid, sandboxId: sb.record.id },
    });
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
  writeJsonAtomic(sandboxStateFile(root, sb.record.id), sb.current);
}

export function saveContainer(root: string, sid: string, c: LoadedContainer): void {
  writeJsonAtomic(containerStateFile(root, sid, c.record.id), c.current);
}

export function saveContainerRecord(root: string, sid: string, c: LoadedContainer): void {
  writeJsonAtomic(containerConfigFile(root, sid, c.record.id), c.record);
}

export function moveSandbox(root: string, sb: LoadedSandbox, to: Status): void {
  assertTransition("sandbox", sb.record.id, sb.current.state, to);
  sb.current = { ...sb.current, state: to };
  saveSandboxState(root, sb);
}

export function moveContainer(
  root: string,
  sid: string,
  c: LoadedContainer,
  to: Status,
  patch: Partial<Omit<ContainerState, "state">> = {},
): void {
  assertTransition("container", c.record.id, c.current.state, to);
  const next: ContainerState = { ...c.current, ...patch, state: to };
  for (const k of Object.keys(next) as (keyof ContainerState)[]) if (next[k] === undefined) delete next[k];
  c.current = next;
  saveContainer(root, sid, c);
}

export function vmAlive(sb: LoadedSandbox): boolean {
  return sb.current.vmPid !== undefined && isProcessAlive(sb.current.vmPid, sb.current.vmPidStart);
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
    state: c.current.state,
    pid: c.current.pid,
    guestPid: c.current.guestPid,
    bundle: c.record.bundle,
    rootfs: c.record.rootfs,
    annotations: c.record.annotations,
    createdAt: c.record.createdAt,
    ...(c.current.startedAt ? { startedAt: c.current.startedAt } : {}),
    ...(c.current.exitCode !== undefined ? { exitCode: c.current.exitCode } : {}),
  };
}

export function sandboxStatusOf(sb: LoadedSandbox): SandboxStatus {
  return {
    id: sb.record.id,
    state: sb.current.state,
    backend: sb.record.backend,
    vmPid: sb.current.vmPid ?? 0,
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
