import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  enterContainer,
  killContainer,
  pauseContainer,
  processListContainer,
  resizeProcessTty,
  resumeContainer,
  signalExecProcess,
  startContainer,
  statsContainer,
  statusContainer,
  updateContainer,
  watchContainerOom,
} from "../core/api.ts";
import { createFromBundle, deleteById } from "../runtime/operations.ts";
import type { RuntimeContext } from "../core/ports.ts";
import { AgentError, AlreadyExistsError, InvalidSpecError, InvalidStateError, NotFoundError, UnsupportedError } from "../host/errors.ts";
import { validateId } from "../host/ids.ts";
import type { LaunchRequest } from "../core/ports.ts";
import { logger } from "../host/log.ts";
import { settledWithin } from "../host/time.ts";
import { ProcessSchema, ResourcesSchema } from "../oci/spec.ts";
import { parseValid } from "../host/valid.ts";
import { unmountAll } from "../host/mounts.ts";
import { VERSION } from "../host/version.ts";
import {
  TaskCreateSchema,
  TaskDeleteSchema,
  TaskExecAddedSchema,
  TaskExecStartedSchema,
  TaskExitSchema,
  TaskOOMSchema,
  TaskPausedSchema,
  TaskResumedSchema,
  TaskStartSchema,
} from "./gen/containerd/events/task_pb.ts";
import { ProcessInfoSchema, Status } from "./gen/containerd/types/task_pb.ts";
import * as T from "./task-messages.ts";
import type { EventSink } from "./events.ts";
import { closeFds, openProcessStdio } from "./fifo.ts";
import { statsToMetrics } from "./metrics.ts";
import type { Handler } from "./ttrpc.ts";
import { taskHandlers } from "./task-handlers.ts";
import { mountRootfs } from "./rootfs.ts";
import {
  anyJson,
  closeStdinKeeper,
  deleteResponse,
  describe,
  newProc,
  stateResponse,
  stdioKey,
  type Proc,
  type Stdio,
  type Task,
} from "./task-state.ts";

/**
 * containerd.task.v2.Task over husk's lifecycle core: every container of the
 * pod this shim serves is created, started, signalled and deleted through
 * src/core/api.ts (and the runc create/delete rules in src/runtime/operations.ts),
 * so a task is a husk container like any other: `husk list` shows it, its
 * process on the host is a `husk shim` (stdio relay, exit status), whose
 * stdio here is containerd's fifos.
 */

const log = logger("shimv2");

export { TASK_SERVICE } from "./task-handlers.ts";
/** How long Delete waits for a killed process's shim to go. */
const EXIT_WAIT_MS = 15_000;
export interface TaskServiceDeps {
  ctx: RuntimeContext;
  /** containerd's namespace (for binary:// loggers' CONTAINER_NAMESPACE). */
  namespace: string;
  events: EventSink;
  /** The exit status of a launched process by its host pid (ShimLauncher.exited). */
  exitedOf: (pid: number) => Promise<number> | undefined;
  /** Called when Shutdown finds nothing left to serve. */
  onShutdown: () => void;
}

export class TaskService {
  private readonly tasks = new Map<string, Task>();
  /** Per-launch stdio fds, looked up by the ShimLauncher while it spawns the process's shim. */
  private readonly pendingStdio = new Map<string, [number, number, number]>();

  constructor(private readonly deps: TaskServiceDeps) {}

  /** For the ShimLauncher's stdioFor option. */
  stdioFor = (request: LaunchRequest): [number, number, number] | undefined =>
    this.pendingStdio.get(stdioKey(request.containerId, request.kind === "exec" ? request.execId : ""));

  get size(): number {
    return this.tasks.size;
  }

  /** The ttrpc method table (./task-handlers.ts). */
  handlers(): Map<string, Handler> {
    return taskHandlers(this);
  }

  // ---- lookups ----

  private task(id: string): Task {
    const t = this.tasks.get(id);
    if (!t) throw new NotFoundError(`task ${id} not found in this shim`, { details: { id } });
    return t;
  }

  private proc(t: Task, execId: string): Proc {
    if (execId === "") return t.init;
    const p = t.execs.get(execId);
    if (!p) throw new NotFoundError(`process ${execId} of task ${t.id} not found`, { details: { id: t.id, execId } });
    return p;
  }

  // ---- Create / Start ----

  async create(r: T.CreateTaskRequest): Promise<number> {
    validateId(r.id, "container id");
    if (this.tasks.has(r.id)) throw new AlreadyExistsError(`task ${r.id} already exists`);
    if (r.checkpoint || r.parentCheckpoint) throw new UnsupportedError("restoring from a checkpoint is not supported by husk");
    if (!r.bundle.startsWith("/")) throw new InvalidSpecError(`bundle ${JSON.stringify(r.bundle)} is not an absolute path`);
    const stdio: Stdio = { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal };
    const task: Task = { id: r.id, sandboxId: "", bundle: r.bundle, init: newProc("", stdio), execs: new Map(), deleting: false };
    // Reserve the id while the VM boots: a second Create for it is refused, not raced.
    this.tasks.set(r.id, task);
    try {
      if (r.rootfs.length > 0) task.mountedRootfs = await mountRootfs(r.bundle, r.rootfs);
      const status = await this.withStdio(r.id, "", task.init, () =>
        createFromBundle(this.deps.ctx, { id: r.id, bundle: r.bundle, io: { detach: false } }),
      );
      task.sandboxId = status.sandboxId;
      task.init.pid = status.pid;
      this.watchExit(task, task.init);
    } catch (e) {
      this.tasks.delete(r.id);
      if (task.mountedRootfs)
        await unmountAll(task.mountedRootfs).catch((u: unknown) => log.warn(`cannot unmount ${task.mountedRootfs}`, u));
      throw e;
    }
    await this.deps.events.publish(
      TaskCreateSchema,
      create(TaskCreateSchema, {
        containerId: r.id,
        bundle: r.bundle,
        rootfs: r.rootfs,
        io: { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal },
        pid: task.init.pid,
      }),
    );
    return task.init.pid;
  }

  /**
   * Launch a process with containerd's fifos as its stdio: they are opened,
   * handed to the launcher (stdioFor) while launch runs, and this process's
   * copies closed after; the stdin keeper stays with the process.
   */
  private async withStdio<R>(id: string, execId: string, p: Proc, launch: () => Promise<R>): Promise<R> {
    const io = await openProcessStdio(p.stdio, { containerId: id, namespace: this.deps.namespace });
    const key = stdioKey(id, execId);
    this.pendingStdio.set(key, io.fds);
    try {
      const launched = await launch();
      if (io.stdinKeeper !== undefined) p.stdinKeeper = io.stdinKeeper;
      return launched;
    } catch (e) {
      if (io.stdinKeeper !== undefined) closeFds([io.stdinKeeper]);
      throw e;
    } finally {
      this.pendingStdio.delete(key);
      closeFds(io.fds);
    }
  }

  private watchExit(task: Task, proc: Proc): void {
    const exited = this.deps.exitedOf(proc.pid);
    if (!exited) {
      log.warn(`no exit status will be known for ${task.id}${proc.execId ? `/${proc.execId}` : ""} (pid ${proc.pid})`);
      return;
    }
    void exited.then(async (status) => {
      closeStdinKeeper(proc);
      proc.exit = { status, at: new Date() };
      proc.state = "stopped";
      if (proc.execId === "") void task.stopOomWatch?.().catch(() => {});
      if (!task.deleting) {
        await this.deps.events.publish(
          TaskExitSchema,
          create(TaskExitSchema, {
            containerId: task.id,
            id: proc.execId || task.id,
            pid: proc.pid,
            exitStatus: status,
            exitedAt: timestampFromDate(proc.exit.at),
          }),
        );
      }
      proc.markExited();
    });
  }

  async start(id: string, execId: string): Promise<number> {
    const t = this.task(id);
    const p = this.proc(t, execId);
    if (p.state !== "created") throw new InvalidStateError(`${describe(t, p)} is ${p.state}, not created`);
    if (execId === "") {
      await startContainer(this.deps.ctx, t.sandboxId, id);
      p.state = "running";
      await this.deps.events.publish(TaskStartSchema, create(TaskStartSchema, { containerId: id, pid: p.pid }));
      try {
        t.stopOomWatch = await watchContainerOom(this.deps.ctx, t.sandboxId, id, () => {
          void this.deps.events.publish(TaskOOMSchema, create(TaskOOMSchema, { containerId: id }));
        });
      } catch (e) {
        log.warn(`cannot watch ${id} for OOM kills`, e);
      }
      return p.pid;
    }
    const r = await this.withStdio(id, execId, p, () =>
      enterContainer(this.deps.ctx, t.sandboxId, id, {
        process: p.process!,
        execId,
        io: { terminal: p.stdio.terminal, detach: false },
      }),
    );
    p.pid = r.pid;
    p.state = "running";
    this.watchExit(t, p);
    await this.deps.events.publish(TaskExecStartedSchema, create(TaskExecStartedSchema, { containerId: id, execId, pid: p.pid }));
    return p.pid;
  }

  async exec(r: T.ExecProcessRequest): Promise<void> {
    const t = this.task(r.id);
    validateId(r.execId, "exec id");
    if (t.execs.has(r.execId)) throw new AlreadyExistsError(`process ${r.execId} of task ${r.id} already exists`);
    if (t.init.state === "stopped") throw new InvalidStateError(`task ${r.id} has stopped: cannot exec in it`);
    const raw = anyJson(r.spec, "exec spec");
    const process = { ...parseValid(ProcessSchema, raw, InvalidSpecError, "exec spec"), terminal: r.terminal };
    t.execs.set(r.execId, newProc(r.execId, { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal }, process));
    await this.deps.events.publish(TaskExecAddedSchema, create(TaskExecAddedSchema, { containerId: r.id, execId: r.execId }));
  }

  // ---- queries ----

  async state(id: string, execId: string): Promise<T.StateResponse> {
    const t = this.task(id);
    const p = this.proc(t, execId);
    let status: Status;
    if (p.state === "stopped") status = Status.STOPPED;
    else if (execId !== "") status = p.state === "created" ? Status.CREATED : Status.RUNNING;
    else {
      const s = await statusContainer(this.deps.ctx, t.sandboxId, id);
      status = { ready: Status.CREATED, running: Status.RUNNING, paused: Status.PAUSED, stopped: Status.STOPPED }[s.state];
    }
    return stateResponse(t, p, status);
  }

  async wait(id: string, execId: string): Promise<T.WaitResponse> {
    const t = this.task(id);
    const p = this.proc(t, execId);
    await p.exited;
    return create(T.WaitResponseSchema, { exitStatus: p.exit?.status ?? 0, ...(p.exit ? { exitedAt: timestampFromDate(p.exit.at) } : {}) });
  }

  async pids(id: string): Promise<T.PidsResponse> {
    const t = this.task(id);
    const list = await processListContainer(this.deps.ctx, t.sandboxId, id);
    // Guest pids: the container's processes live in its VM.
    return create(T.PidsResponseSchema, { processes: list.map((p) => create(ProcessInfoSchema, { pid: p.pid })) });
  }

  async stats(id: string): Promise<T.StatsResponse> {
    const t = this.task(id);
    const s = await statsContainer(this.deps.ctx, t.sandboxId, id);
    return create(T.StatsResponseSchema, { stats: statsToMetrics(s) });
  }

  connect(id: string): T.ConnectResponse {
    const t = this.task(id);
    return create(T.ConnectResponseSchema, { shimPid: process.pid, taskPid: t.init.pid, version: VERSION });
  }

  // ---- changes ----

  async kill(r: T.KillRequest): Promise<void> {
    const t = this.task(r.id);
    const p = this.proc(t, r.execId);
    if (r.signal === 0 || r.signal > 64) throw new InvalidSpecError(`invalid signal ${r.signal}`);
    if (r.execId === "") {
      // containerd's errdefs: a finished process is NotFound ("process already finished"); kill --all still sweeps.
      if (p.state === "stopped" && !r.all) throw new NotFoundError(`process already finished: task ${r.id}`);
      await killContainer(this.deps.ctx, t.sandboxId, r.id, r.signal, r.all);
      return;
    }
    if (p.state === "stopped") throw new NotFoundError(`process already finished: ${describe(t, p)}`);
    if (p.state === "created") throw new InvalidStateError(`${describe(t, p)} has not started`);
    await signalExecProcess(this.deps.ctx, t.sandboxId, r.id, r.execId, r.signal);
  }

  async resize(r: T.ResizePtyRequest): Promise<void> {
    const t = this.task(r.id);
    const p = this.proc(t, r.execId);
    if (!p.stdio.terminal) throw new InvalidStateError(`${describe(t, p)} has no terminal`);
    if (r.width > 0xffff || r.height > 0xffff) throw new InvalidSpecError(`terminal size ${r.width}x${r.height} is too large`);
    if (p.state !== "running") return;
    try {
      await resizeProcessTty(this.deps.ctx, t.sandboxId, r.id, r.execId || undefined, { rows: r.height, cols: r.width });
    } catch (e) {
      // The process exited and its terminal closed before we saw it: nothing left to resize (ctr resizes right after start).
      if (e instanceof AgentError && /has no terminal/.test(e.message)) return;
      throw e;
    }
  }

  /** The client is done with stdin: drop our write end, so the process sees EOF once the client's is closed too. */
  closeIo(r: T.CloseIORequest): void {
    const p = this.proc(this.task(r.id), r.execId);
    if (r.stdin) closeStdinKeeper(p);
  }

  async pause(id: string, pause: boolean): Promise<void> {
    const t = this.task(id);
    if (pause) {
      await pauseContainer(this.deps.ctx, t.sandboxId, id);
      await this.deps.events.publish(TaskPausedSchema, create(TaskPausedSchema, { containerId: id }));
    } else {
      await resumeContainer(this.deps.ctx, t.sandboxId, id);
      await this.deps.events.publish(TaskResumedSchema, create(TaskResumedSchema, { containerId: id }));
    }
  }

  async update(r: T.UpdateTaskRequest): Promise<void> {
    const t = this.task(r.id);
    const resources = parseValid(ResourcesSchema, anyJson(r.resources, "resources"), InvalidSpecError, "resources");
    await updateContainer(this.deps.ctx, t.sandboxId, r.id, resources);
  }

  async delete(id: string, execId: string): Promise<T.DeleteResponse> {
    const t = this.task(id);
    const p = this.proc(t, execId);
    if (p.state === "running") throw new InvalidStateError(`${describe(t, p)} is running: kill it before deleting it`);
    if (execId !== "") {
      closeStdinKeeper(p);
      t.execs.delete(execId);
      return deleteResponse(p);
    }
    closeStdinKeeper(p);
    t.deleting = true;
    try {
      await deleteById(this.deps.ctx, id, true);
    } catch (e) {
      t.deleting = false;
      throw e;
    }
    // A created task's process is killed by the delete: let its shim go, so nothing is left.
    if (p.state === "created") await settledWithin(p.exited, EXIT_WAIT_MS);
    await t.stopOomWatch?.().catch(() => {});
    if (t.mountedRootfs) {
      try {
        await unmountAll(t.mountedRootfs);
      } catch (e) {
        log.warn(`cannot unmount ${t.mountedRootfs}`, e);
      }
    }
    this.tasks.delete(id);
    const resp = deleteResponse(p);
    await this.deps.events.publish(
      TaskDeleteSchema,
      create(TaskDeleteSchema, {
        containerId: id,
        pid: resp.pid,
        exitStatus: resp.exitStatus,
        ...(resp.exitedAt ? { exitedAt: resp.exitedAt } : {}),
      }),
    );
    return resp;
  }

  shutdown(now: boolean): void {
    if (this.tasks.size > 0 && !now) return;
    log.debug(`shutdown (${this.tasks.size} tasks left, now=${now})`);
    // Answer first, then go.
    setTimeout(() => this.deps.onShutdown(), 50);
  }
}
