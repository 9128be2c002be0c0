import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AgentError, AlreadyExistsError, InvalidIdError, InvalidStateError, NotFoundError, UnsupportedError } from "../../host/errors.ts";
import { killPid, type WaitResult } from "../../host/ffi/process.ts";
import { logger } from "../../host/log.ts";
import { settledWithin } from "../../host/time.ts";
import type { OciProcess, OciSpec } from "../../oci/spec.ts";
import { COMMIT, VERSION } from "../../host/version.ts";
import { GUEST_CONSOLE_ID, type MethodName, type MethodRequest, type MethodResponse, PROTOCOL_VERSION, type Stdio } from "../protocol.ts";
import type { Channel, RequestContext, RequestHandler } from "../wire/channel.ts";
import { type DebugShell, spawnGuestShell } from "./debug-console.ts";
import { interfaceCommands, routeCommand } from "./network.ts";
import { bootTime, cgroupOf, cgroupStats, guestDetails, processInfo } from "./procfs.ts";
import { OomWatcher } from "./oom.ts";
import { Reaper } from "./reaper.ts";
import type { ContainerRuntime } from "./runtime.ts";
import { ProcessStdio } from "./stdio.ts";

const log = logger("agent");

/** Guest-wide operations, faked in unit tests. */
export interface GuestSystem {
  /** Run a command (busybox `ip ...`); rejects with its stderr on failure. */
  run(argv: string[]): Promise<void>;
  /** Sync and power the VM off (returns before the power goes, so the reply can be sent). */
  powerOff(): Promise<void>;
  /** Flush every filesystem to its backing store (the host, for 9p). */
  sync?(): Promise<void>;
  /** Make a VM cloned from a template its own (see cloneInit in ../protocol.ts); rejects if any step fails. */
  cloneInit(request: MethodRequest<"cloneInit">): Promise<void>;
}

export interface AgentServiceOptions {
  runtime: ContainerRuntime;
  system: GuestSystem;
  /** Bundles go to <stateDir>/bundles/<cid>, console sockets to <stateDir>/console. */
  stateDir: string;
  procRoot?: string;
  cgroupRoot?: string;
  reaper?: Reaper;
  /** After a process exits, wait this long at most for its output to drain before reporting the exit. */
  exitDrainMs?: number;
  /** Spawns a debug console's shell (default: /bin/sh in the guest, ./debug-console.ts). */
  debugShell?: DebugShell;
}

interface Exit {
  exitCode: number;
  signal?: number;
}

interface Proc {
  containerId: string;
  execId?: string;
  pid: number;
  stdio: ProcessStdio;
  exit?: Exit;
  exited: Promise<Exit>;
}

interface Container {
  id: string;
  bundleDir: string;
  init: Proc;
  execs: Map<string, Proc>;
}

type Handlers = { [M in MethodName]: (req: MethodRequest<M>, ctx: RequestContext) => Promise<MethodResponse<M>> };

/**
 * The guest agent's method implementations over a ContainerRuntime. Holds
 * containers and their processes across host sessions (a host reconnect
 * loses the streams, not the containers), keeps exit statuses until the
 * container is removed, and emits processExit on the channel.
 */
export class AgentService {
  private containers = new Map<string, Container>();
  /** Debug consoles (processes of the guest itself), by execId, under GUEST_CONSOLE_ID. */
  private consoles = new Map<string, Proc>();
  private channel: Channel | undefined;
  private readonly reaper: Reaper;
  private readonly opts: AgentServiceOptions;
  private consoleSeq = 0;
  private readonly oom: OomWatcher;

  constructor(options: AgentServiceOptions) {
    this.opts = options;
    this.reaper = options.reaper ?? new Reaper();
    this.oom = new OomWatcher((containerId) => {
      try {
        this.channel?.emit("oom", { containerId });
      } catch (e) {
        log.warn(`oom event not sent: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
    mkdirSync(join(options.stateDir, "bundles"), { recursive: true, mode: 0o700 });
    mkdirSync(join(options.stateDir, "console"), { recursive: true, mode: 0o700 });
  }

  /** The channel events go to. */
  setChannel(channel: Channel): void {
    this.channel = channel;
  }

  readonly handler: RequestHandler = (method, request, ctx) => {
    const h = (this.handlers as Record<string, (r: unknown, c: RequestContext) => Promise<unknown>>)[method];
    if (!h) return Promise.reject(new UnsupportedError(`unknown method ${method}`));
    return h(request, ctx);
  };

  /** Stop watching processes (tests; the real agent runs until power-off). */
  stop(): void {
    this.reaper.stop();
    this.oom.stop();
  }

  private container(id: string): Container {
    const c = this.containers.get(id);
    if (!c) throw new NotFoundError(`container ${id} does not exist`, { details: { containerId: id } });
    return c;
  }

  private proc(containerId: string, execId: string | undefined): Proc {
    if (containerId === GUEST_CONSOLE_ID) {
      const p = execId === undefined ? undefined : this.consoles.get(execId);
      if (!p) throw new NotFoundError(`debug console ${execId ?? "(none)"} does not exist`, { details: { execId } });
      return p;
    }
    const c = this.container(containerId);
    if (execId === undefined) return c.init;
    const p = c.execs.get(execId);
    if (!p) throw new NotFoundError(`process ${execId} does not exist in container ${containerId}`, { details: { containerId, execId } });
    return p;
  }

  private consolePath(): string {
    return join(this.opts.stateDir, "console", `${process.pid}-${++this.consoleSeq}.sock`);
  }

  /** Turn a raw exit into the reported one: after output drained (bounded), record and announce it. */
  private track(p: Omit<Proc, "exited">, raw: Promise<WaitResult>): Proc {
    const proc = p as Proc;
    proc.exited = raw.then(async (r) => {
      const drain = this.opts.exitDrainMs ?? 2000;
      await settledWithin(proc.stdio.outputDone(), drain);
      const exit: Exit = r.signal !== undefined ? { exitCode: r.exitCode, signal: r.signal } : { exitCode: r.exitCode };
      proc.exit = exit;
      log.debug(`process ${proc.containerId}/${proc.execId ?? "init"} (pid ${proc.pid}) exited: ${JSON.stringify(exit)}`);
      try {
        this.channel?.emit("processExit", { containerId: proc.containerId, ...(proc.execId ? { execId: proc.execId } : {}), ...exit });
      } catch (e) {
        log.warn(`processExit not sent: ${e instanceof Error ? e.message : String(e)}`);
      }
      return exit;
    });
    return proc;
  }

  private readonly handlers: Handlers = {
    version: async () => ({ agentVersion: VERSION.slice(0, 64), commit: COMMIT.slice(0, 64), protocolVersion: PROTOCOL_VERSION }),

    guestDetails: async () => guestDetails(VERSION, this.opts.procRoot),

    createContainer: async (req, ctx) => {
      if (req.containerId === GUEST_CONSOLE_ID) throw new InvalidIdError(`container id ${GUEST_CONSOLE_ID} is reserved for debug consoles`);
      if (this.containers.has(req.containerId)) throw new AlreadyExistsError(`container ${req.containerId} already exists`);
      const bundleDir = join(this.opts.stateDir, "bundles", req.containerId);
      const spec: OciSpec = { ...req.spec };
      if (spec.process) spec.process = withTerminal(spec.process, req.stdio);
      mkdirSync(bundleDir, { recursive: true, mode: 0o700 });
      writeFileSync(join(bundleDir, "config.json"), JSON.stringify(spec), { mode: 0o600 });
      let stdio: ProcessStdio | undefined;
      try {
        stdio = ProcessStdio.prepare(ctx.channel, req.stdio, this.consolePath());
        const started = await this.opts.runtime.create(req.containerId, bundleDir, stdio.io);
        await stdio.connect(Promise.resolve());
        const init = this.track(
          { containerId: req.containerId, pid: started.pid, stdio },
          started.exited ?? this.reaper.watch(started.pid),
        );
        this.containers.set(req.containerId, { id: req.containerId, bundleDir, init, execs: new Map() });
        const cgroup = await cgroupOf(started.pid, this.opts.procRoot);
        if (cgroup !== null) await this.oom.add(req.containerId, join(this.opts.cgroupRoot ?? "/sys/fs/cgroup", cgroup));
        void init.exited.then(() => this.oom.finish(req.containerId));
        return { pid: started.pid };
      } catch (e) {
        stdio?.abort();
        await this.opts.runtime.delete(req.containerId, true).catch(() => {});
        rmSync(bundleDir, { recursive: true, force: true });
        throw e;
      }
    },

    startContainer: async (req) => {
      const c = this.container(req.containerId);
      if (c.init.exit) throw new InvalidStateError(`container ${req.containerId} has already exited`);
      await this.opts.runtime.start(req.containerId);
      return {};
    },

    removeContainer: async (req) => {
      const c = this.container(req.containerId);
      if (!c.init.exit && !req.force) throw new InvalidStateError(`container ${req.containerId} is still running; stop it or use force`);
      await this.opts.runtime.delete(req.containerId, req.force ?? false);
      for (const p of [c.init, ...c.execs.values()]) p.stdio.abort();
      this.containers.delete(req.containerId);
      rmSync(c.bundleDir, { recursive: true, force: true });
      return {};
    },

    exec: async (req, ctx) => {
      const c = this.container(req.containerId);
      if (c.init.exit) throw new InvalidStateError(`container ${req.containerId} is not running`);
      if (c.execs.has(req.execId)) throw new AlreadyExistsError(`process ${req.execId} already exists in container ${req.containerId}`);
      const stdio = ProcessStdio.prepare(ctx.channel, req.stdio, this.consolePath());
      const process = withTerminal(req.process, req.stdio);
      try {
        const started = await this.opts.runtime.exec(req.containerId, req.execId, c.bundleDir, process, stdio.io);
        const raw = started.exited ?? this.reaper.watch(started.pid);
        await stdio.connect(raw);
        c.execs.set(req.execId, this.track({ containerId: req.containerId, execId: req.execId, pid: started.pid, stdio }, raw));
        return { pid: started.pid };
      } catch (e) {
        stdio.abort();
        throw e;
      }
    },

    signalProcess: async (req) => {
      const p = this.proc(req.containerId, req.execId);
      // As runc: --all signals what is left in the container's cgroup after its init exited
      // (a container without a pid namespace of its own leaves its children behind).
      const leftovers = p.exit !== undefined && req.execId === undefined && req.all === true;
      if (p.exit && !leftovers) throw new InvalidStateError(`process ${req.execId ?? req.containerId} has already exited`);
      if (req.execId === undefined) await this.opts.runtime.kill(req.containerId, req.signal, req.all ?? false);
      else killPid(p.pid, req.signal);
      return {};
    },

    waitProcess: async (req, ctx) => {
      const p = this.proc(req.containerId, req.execId);
      const exit =
        p.exit ??
        (await new Promise<Exit>((resolve, reject) => {
          const onAbort = () => reject(new AgentError("wait cancelled"));
          ctx.signal.addEventListener("abort", onAbort, { once: true });
          p.exited.then((e) => {
            ctx.signal.removeEventListener("abort", onAbort);
            resolve(e);
          }, reject);
        }));
      return exit;
    },

    listProcesses: async (req) => {
      this.container(req.containerId);
      const pids = await this.opts.runtime.pids(req.containerId);
      const btime = await bootTime(this.opts.procRoot);
      const infos = await Promise.all(pids.slice(0, 65536).map((pid) => processInfo(pid, this.opts.procRoot, btime)));
      return { processes: infos.filter((i) => i !== null) };
    },

    pauseContainer: async (req) => {
      this.container(req.containerId);
      await this.opts.runtime.pause(req.containerId);
      return {};
    },

    resumeContainer: async (req) => {
      this.container(req.containerId);
      await this.opts.runtime.resume(req.containerId);
      return {};
    },

    stats: async (req) => {
      const c = this.container(req.containerId);
      if (c.init.exit) throw new InvalidStateError(`container ${req.containerId} is not running`);
      const path = await cgroupOf(c.init.pid, this.opts.procRoot);
      if (path === null) throw new AgentError(`no cgroup v2 entry for pid ${c.init.pid}`);
      return await cgroupStats(join(this.opts.cgroupRoot ?? "/sys/fs/cgroup", path));
    },

    updateContainer: async (req) => {
      const c = this.container(req.containerId);
      await this.opts.runtime.update(req.containerId, c.bundleDir, req.resources);
      return {};
    },

    writeStdin: async (req) => {
      const p = this.proc(req.containerId, req.execId);
      const bytes = Buffer.from(req.data, "base64");
      if (bytes.length > 64 * 1024) throw new AgentError("writeStdin takes at most 64 KiB");
      return { written: await p.stdio.writeStdin(bytes) };
    },

    closeStdin: async (req) => {
      await this.proc(req.containerId, req.execId).stdio.closeStdin();
      return {};
    },

    resizeTty: async (req) => {
      this.proc(req.containerId, req.execId).stdio.resize(req.rows, req.cols);
      return {};
    },

    updateInterfaces: async (req) => {
      for (const iface of req.interfaces) for (const cmd of interfaceCommands(iface)) await this.opts.system.run(cmd);
      return {};
    },

    updateRoutes: async (req) => {
      for (const route of req.routes) await this.opts.system.run(routeCommand(route));
      return {};
    },

    debugConsole: async (req, ctx) => {
      if (this.consoles.has(req.execId)) throw new AlreadyExistsError(`debug console ${req.execId} already exists`);
      const stdio = ProcessStdio.prepare(ctx.channel, req.stdio, this.consolePath());
      try {
        const started = await (this.opts.debugShell ?? spawnGuestShell)(stdio.io, req.env ?? []);
        const raw = started.exited ?? this.reaper.watch(started.pid);
        await stdio.connect(raw);
        const proc = this.track({ containerId: GUEST_CONSOLE_ID, execId: req.execId, pid: started.pid, stdio }, raw);
        this.consoles.set(req.execId, proc);
        // Kept a while after the exit for waitProcess; nothing else ever removes a console.
        void proc.exited.then(() => setTimeout(() => this.consoles.delete(req.execId), 60_000).unref?.());
        log.debug(`debug console ${req.execId}: pid ${started.pid}`);
        return { pid: started.pid };
      } catch (e) {
        stdio.abort();
        throw e;
      }
    },

    cloneInit: async (req) => {
      await this.opts.system.cloneInit(req);
      return {};
    },

    shutdown: async () => {
      // Synced before the reply: once it has the answer, the host may end
      // QEMU at once instead of waiting for the guest's own reboot.
      await this.opts.system.sync?.();
      setTimeout(
        () => void this.opts.system.powerOff().catch((e) => log.error(`power off failed: ${e instanceof Error ? e.message : String(e)}`)),
        50,
      );
      return {};
    },
  };
}

/**
 * The process's terminal flag follows the stdio the host asked for, and a
 * terminal gets its size from the start (consoleSize), so nothing in the
 * container ever sees a 0x0 window.
 */
function withTerminal(p: OciProcess, stdio: Stdio): OciProcess {
  const out: OciProcess = { ...p, terminal: stdio.terminal };
  if (stdio.terminal && stdio.rows && stdio.cols) out.consoleSize = { height: stdio.rows, width: stdio.cols };
  return out;
}
