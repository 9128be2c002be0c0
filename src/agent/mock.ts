import { closeSync, constants, openSync } from "node:fs";
import * as v from "valibot";
import { AgentError, AlreadyExistsError, InvalidStateError, NotFoundError, ProtocolError, TimeoutError } from "../host/errors.ts";
import { flock, LOCK_EX, LOCK_UN } from "../host/ffi/flock.ts";
import { logger } from "../host/log.ts";
import { parseOr } from "../host/valid.ts";
import { readJsonIfExists, writeJsonAtomic } from "../host/json-file.ts";
import {
  EVENTS,
  GUEST_CONSOLE_ID,
  METHODS,
  PROTOCOL_VERSION,
  type EventName,
  type EventPayload,
  type MethodName,
  type MethodRequest,
  type MethodResponse,
  type Stdio,
} from "./protocol.ts";
import type { Agent, CallOptions, ProcessStreams, StdioRequest } from "./types.ts";
import {
  emptyGuest,
  INIT,
  keyOf,
  MockGuestSchema,
  NON_LETHAL,
  type MockContainer,
  type MockGuest,
  type MockProcess,
} from "./mock-guest.ts";

import { MockStdio } from "./mock-stdio.ts";
export { MockGuestSchema, type MockGuest } from "./mock-guest.ts";

/**
 * Mock agent: an in-memory guest with realistic container and process
 * states (created → running ⇄ paused → stopped; processes exit on lethal
 * signals with 128+signal), validating every request and response against
 * the method table. Scriptable failures per method. With `stateFile` the
 * guest's state is persisted (under a flock) so API calls from separate
 * processes see the same guest. Stdio streams are in memory: a process
 * echoes its stdin to its stdout (like `cat`), and tests can inject output.
 */

const log = logger("mock-agent");

export interface MockAgentOptions {
  /** Throw this error when the method is called. */
  failOn?: Partial<Record<MethodName, Error>>;
  /** Persist the guest here so several processes share it. */
  stateFile?: string;
}

type MockHandler<M extends MethodName> = (req: MethodRequest<M>, options: CallOptions) => MethodResponse<M> | Promise<MethodResponse<M>>;
type MockHandlers = { [M in MethodName]: MockHandler<M> };

export class MockAgent implements Agent {
  /** Requests made through this object, in order. */
  readonly calls: { method: MethodName; request: unknown }[] = [];
  private memory: MockGuest = emptyGuest();
  private listeners = new Map<EventName, Set<(p: never) => void>>();
  private readonly stdio = new MockStdio();
  private closed = false;

  constructor(private readonly options: MockAgentOptions = {}) {}

  // ---- guest state, persisted or in memory ----

  private transact<T>(fn: (guest: MockGuest) => T): T {
    const file = this.options.stateFile;
    if (!file) return fn(this.memory);
    const fd = openSync(`${file}.lock`, constants.O_RDWR | constants.O_CREAT, 0o600);
    try {
      flock(fd, LOCK_EX); // held only for this synchronous read-modify-write
      const guest = readJsonIfExists(file, MockGuestSchema, "mock guest state") ?? emptyGuest();
      const result = fn(guest);
      writeJsonAtomic(file, guest);
      return result;
    } finally {
      flock(fd, LOCK_UN);
      closeSync(fd);
    }
  }

  /** A snapshot of the guest (for assertions). */
  guest(): MockGuest {
    return this.transact((g) => structuredClone(g));
  }

  // ---- Agent ----

  async call<M extends MethodName>(method: M, request: MethodRequest<M>, options: CallOptions = {}): Promise<MethodResponse<M>> {
    if (this.closed) throw new AgentError(`mock agent: ${method} after close`);
    const schema = METHODS[method];
    parseOr(schema.request, request, ({ message }) => new ProtocolError(`mock agent: bad ${method} request: ${message}`));
    this.calls.push({ method, request });
    log.debug(`${method} ${JSON.stringify(request).slice(0, 200)}`);
    const failure = this.options.failOn?.[method];
    if (failure) throw failure;
    const handler = this.handlers[method] as MockHandler<M>;
    const response = await handler(request, options);
    return parseOr(
      schema.response,
      response,
      ({ message }) => new ProtocolError(`mock agent: bad ${method} response: ${message}`),
    ) as MethodResponse<M>;
  }

  /** One implementation per method, typed from the method table as AgentService's are (./server/service.ts). */
  private readonly handlers: MockHandlers = {
    version: () => ({ agentVersion: "mock", commit: "mock", protocolVersion: PROTOCOL_VERSION }),
    guestDetails: () => ({ agentVersion: "mock", kernelRelease: "mock", cpus: 1, memTotalKiB: 524288, memFreeKiB: 400000, uptimeSec: 1 }),
    createContainer: (r) =>
      this.transact((g) => {
        if (g.containers[r.containerId]) throw new AlreadyExistsError(`container ${r.containerId} already exists`);
        const pid = g.nextPid++;
        g.containers[r.containerId] = {
          status: "created",
          processes: { [INIT]: { pid, args: r.spec.process?.args ?? [], status: "created" } },
        };
        this.stdio.attach(r.containerId, undefined, r.stdio);
        return { pid };
      }),
    startContainer: (r) =>
      this.transact((g) => {
        const c = this.container(g, r.containerId);
        if (c.status !== "created") throw new InvalidStateError(`container ${r.containerId} is ${c.status}, not created`);
        c.status = "running";
        (c.processes[INIT] as MockProcess).status = "running";
        return {};
      }),
    removeContainer: (r) =>
      this.transact((g) => {
        const c = this.container(g, r.containerId);
        if ((c.status === "running" || c.status === "paused") && !r.force) {
          throw new InvalidStateError(`container ${r.containerId} is ${c.status}: stop it or force`);
        }
        this.terminate(r.containerId, c, 9);
        delete g.containers[r.containerId];
        return {};
      }),
    exec: (r) =>
      this.transact((g) => {
        const c = this.container(g, r.containerId);
        // As crun (and runc): a created container can be exec'd into.
        if (c.status !== "running" && c.status !== "created")
          throw new InvalidStateError(`container ${r.containerId} is ${c.status}, not running`);
        const key = keyOf(r.execId);
        if (c.processes[key]) throw new AlreadyExistsError(`exec ${r.execId} already exists`);
        const pid = g.nextPid++;
        c.processes[key] = { pid, execId: r.execId, args: r.process.args ?? [], status: "running" };
        this.stdio.attach(r.containerId, r.execId, r.stdio);
        return { pid };
      }),
    signalProcess: (r) =>
      this.transact((g) => {
        const c = this.container(g, r.containerId);
        const p = this.process(c, r.containerId, r.execId);
        if (NON_LETHAL.has(r.signal) || p.status === "exited") return {};
        if (r.execId === undefined || r.all) this.terminate(r.containerId, c, r.signal);
        else this.exit(r.containerId, p, 128 + r.signal, r.signal);
        return {};
      }),
    waitProcess: (r, options) => this.waitProcess(r, options),
    listProcesses: (r) =>
      this.transact((g) => {
        const c = this.container(g, r.containerId);
        const init = c.processes[INIT] as MockProcess;
        const processes = Object.values(c.processes)
          .filter((p) => p.status !== "exited")
          .map((p) => ({
            pid: p.pid,
            ppid: p === init ? 0 : init.pid,
            user: "root",
            state: c.status === "paused" ? "D" : "S",
            command: p.args.join(" "),
          }));
        return { processes };
      }),
    pauseContainer: (r) =>
      this.transact((g) => {
        const c = this.container(g, r.containerId);
        if (c.status !== "running") throw new InvalidStateError(`container ${r.containerId} is ${c.status}, not running`);
        c.status = "paused";
        return {};
      }),
    resumeContainer: (r) =>
      this.transact((g) => {
        const c = this.container(g, r.containerId);
        if (c.status !== "paused") throw new InvalidStateError(`container ${r.containerId} is ${c.status}, not paused`);
        c.status = "running";
        return {};
      }),
    stats: (r) =>
      this.transact((g) => {
        const c = this.container(g, r.containerId);
        const live = Object.values(c.processes).filter((p) => p.status !== "exited").length;
        return {
          cpu: { usageUsec: 1000 * live, userUsec: 600 * live, systemUsec: 400 * live },
          memory: { usageBytes: 1024 * 1024 * live },
          pids: { current: live },
        };
      }),
    updateContainer: (r) =>
      this.transact((g) => {
        this.container(g, r.containerId).resources = r.resources;
        return {};
      }),
    writeStdin: (r) =>
      this.transact((g) => {
        this.process(this.container(g, r.containerId), r.containerId, r.execId);
        const data = Buffer.from(r.data, "base64");
        this.stdio.emit(r.containerId, r.execId, "stdout", data);
        return { written: data.length };
      }),
    closeStdin: (r) => this.transact((g) => this.existing(g, r)),
    resizeTty: (r) => this.transact((g) => this.existing(g, r)),
    updateInterfaces: (r) =>
      this.transact((g) => {
        g.interfaces = r.interfaces;
        return {};
      }),
    updateRoutes: (r) =>
      this.transact((g) => {
        g.routes = r.routes;
        return {};
      }),
    debugConsole: (r) =>
      // The guest's consoles as processes of a pseudo-container: signal, wait, resize address them the same way.
      this.transact((g) => {
        const c = (g.containers[GUEST_CONSOLE_ID] ??= { status: "running", processes: {} });
        if (c.processes[keyOf(r.execId)]) throw new AlreadyExistsError(`debug console ${r.execId} already exists`);
        const pid = g.nextPid++;
        c.processes[keyOf(r.execId)] = { pid, execId: r.execId, args: ["/bin/sh"], status: "running" };
        this.stdio.attach(GUEST_CONSOLE_ID, r.execId, r.stdio);
        return { pid };
      }),
    cloneInit: () => ({}),
    shutdown: () =>
      this.transact((g) => {
        for (const [cid, c] of Object.entries(g.containers)) this.terminate(cid, c, 9);
        g.shutdown = true;
        return {};
      }),
  };

  private container(g: MockGuest, cid: string): MockContainer {
    const c = g.containers[cid];
    if (!c) throw new NotFoundError(`container ${cid} not found`);
    return c;
  }

  private process(c: MockContainer, cid: string, execId?: string): MockProcess {
    const p = c.processes[keyOf(execId)];
    if (!p) throw new NotFoundError(`process ${execId ?? "init"} of container ${cid} not found`);
    return p;
  }

  /** Nothing to do but find the process (closeStdin, resizeTty): {} if it exists, else the not-found error. */
  private existing(g: MockGuest, r: { containerId: string; execId?: string }): Record<string, never> {
    this.process(this.container(g, r.containerId), r.containerId, r.execId);
    return {};
  }

  /** The init process dying takes the container (pid namespace) down with it. */
  private terminate(cid: string, c: MockContainer, signal: number): void {
    for (const p of Object.values(c.processes)) {
      if (p.status !== "exited") this.exit(cid, p, 128 + signal, signal);
    }
    c.status = "stopped";
  }

  private exit(cid: string, p: MockProcess, exitCode: number, signal?: number): void {
    p.status = "exited";
    p.exitCode = exitCode;
    if (signal !== undefined) p.signal = signal;
    const payload = { containerId: cid, ...(p.execId ? { execId: p.execId } : {}), exitCode, ...(signal !== undefined ? { signal } : {}) };
    queueMicrotask(() => {
      this.stdio.close(cid, p.execId);
      this.emit("processExit", payload);
    });
  }

  private async waitProcess(req: MethodRequest<"waitProcess">, options: CallOptions): Promise<MethodResponse<"waitProcess">> {
    const deadline = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutMs;
    for (;;) {
      const done = this.transact((g) => {
        const p = this.process(this.container(g, req.containerId), req.containerId, req.execId);
        if (p.status !== "exited") return undefined;
        return { exitCode: p.exitCode ?? 0, ...(p.signal !== undefined ? { signal: p.signal } : {}) };
      });
      if (done) return done;
      if (options.signal?.aborted) throw new AgentError("waitProcess aborted");
      if (this.closed) throw new AgentError("mock agent closed while waiting");
      if (Date.now() >= deadline) throw new TimeoutError(`waitProcess ${req.containerId} timed out after ${options.timeoutMs} ms`);
      await Bun.sleep(10);
    }
  }

  // ---- test controls ----

  /** Make a process exit on its own with exitCode (as if the program ended). */
  exitProcess(cid: string, execId: string | undefined, exitCode: number): void {
    this.transact((g) => {
      const c = this.container(g, cid);
      const p = this.process(c, cid, execId);
      if (p.status === "exited") return;
      if (execId === undefined) {
        // The init process ending takes every other process of the pid namespace with it.
        for (const other of Object.values(c.processes)) if (other !== p && other.status !== "exited") this.exit(cid, other, 137, 9);
        c.status = "stopped";
      }
      this.exit(cid, p, exitCode);
    });
  }

  /** Report an OOM kill in a container's cgroup, as the guest agent does. */
  emitOom(cid: string): void {
    this.emit("oom", { containerId: cid });
  }

  /** Write bytes to a process's stdout or stderr stream (in this process). */
  emitOutput(cid: string, execId: string | undefined, which: "stdout" | "stderr", data: Uint8Array | string): void {
    this.stdio.emit(cid, execId, which, typeof data === "string" ? new TextEncoder().encode(data) : data);
  }

  openStdio(want: StdioRequest): { stdio: Stdio; streams: ProcessStreams } {
    return this.stdio.open(want);
  }

  // ---- events ----

  on<E extends EventName>(event: E, handler: (payload: EventPayload<E>) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(handler as (p: never) => void);
    return () => set.delete(handler as (p: never) => void);
  }

  private emit<E extends EventName>(event: E, payload: EventPayload<E>): void {
    v.parse(EVENTS[event], payload);
    for (const h of this.listeners.get(event) ?? []) (h as (p: EventPayload<E>) => void)(payload);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
