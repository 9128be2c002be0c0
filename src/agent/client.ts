import { logger } from "../host/log.ts";
import {
  EVENTS,
  type EventName,
  type EventPayload,
  METHODS,
  type MethodName,
  type MethodRequest,
  type MethodResponse,
  type Stdio,
} from "./protocol.ts";
import { connectUnix } from "./transport/unix.ts";
import type { Agent, CallOptions, ProcessStreams, StdioRequest } from "./types.ts";
import { Channel } from "./wire/channel.ts";
import type { DataStream } from "./wire/stream.ts";
import { MONITOR_PREFIX, type MethodTable, type Req, type Res } from "./wire/table.ts";
import type { Transport } from "./wire/transport.ts";

const log = logger("agent-client");

/** Default per-call timeouts (ms; null = none). TCG guests are slow, so these are generous. */
export const DEFAULT_TIMEOUTS: Record<MethodName, number | null> = {
  version: 10_000,
  guestDetails: 10_000,
  createContainer: 120_000,
  startContainer: 60_000,
  removeContainer: 60_000,
  exec: 120_000,
  signalProcess: 10_000,
  waitProcess: null,
  listProcesses: 30_000,
  pauseContainer: 30_000,
  resumeContainer: 30_000,
  stats: 30_000,
  updateContainer: 30_000,
  writeStdin: 30_000,
  closeStdin: 10_000,
  resizeTty: 10_000,
  updateInterfaces: 30_000,
  updateRoutes: 30_000,
  cloneInit: 15_000,
  debugConsole: 60_000,
  shutdown: 30_000,
};

export interface ConnectOptions<X extends MethodTable = Record<never, never>> {
  /** Connect + handshake timeout (default 10 s). */
  timeoutMs?: number;
  /** Extra methods answered by the peer itself: the monitor's "monitor.*" table. */
  extraMethods?: X;
  /** Per-stream credit window (default 256 KiB). */
  windowBytes?: number;
  /** For logs. */
  name?: string;
}

/** The Agent interface plus what a connection adds. */
export interface AgentClient<X extends MethodTable = Record<never, never>> extends Agent {
  /** Call an extra ("monitor.*") method. */
  callExtra<M extends keyof X & string>(method: M, request: Req<X, M>, options?: CallOptions): Promise<Res<X, M>>;
  /** Called once when the connection ends other than by close() (the peer went away, a protocol violation). */
  onClose(listener: (error?: Error) => void): () => void;
  readonly channel: Channel;
}

/**
 * Connect to an agent endpoint over a unix socket: the sandbox monitor's
 * socket (CLI, shims) or, in the monitor, QEMU's chardev for the guest's
 * port. Resolves after the version handshake. One connection, one session:
 * when it ends the client is closed (make a new one to reconnect).
 */
export async function connectAgent<X extends MethodTable = Record<never, never>>(
  socketPath: string,
  options: ConnectOptions<X> = {},
): Promise<AgentClient<X>> {
  const transport = await connectUnix(socketPath, { timeoutMs: options.timeoutMs ?? 10_000 });
  return agentOverTransport(transport, { name: `agent(${socketPath})`, ...options });
}

/** Same as connectAgent over an already connected transport (tests, in-process use). */
export async function agentOverTransport<X extends MethodTable = Record<never, never>>(
  transport: Transport,
  options: ConnectOptions<X> = {},
): Promise<AgentClient<X>> {
  const channel = createClientChannel(options);
  channel.attach(transport);
  const timeoutMs = options.timeoutMs ?? 10_000;
  try {
    await channel.ready(AbortSignal.timeout(timeoutMs));
  } catch (e) {
    await channel.close();
    if (e instanceof Error && e.name === "TimeoutError") {
      const { TimeoutError } = await import("../host/errors.ts");
      throw new TimeoutError(`no handshake from ${transport.label} within ${timeoutMs} ms`, { cause: e });
    }
    throw e;
  }
  const client = agentOverChannel<X>(channel);
  // No reconnect here: a lost session closes the client.
  channel.onSessionEnd(() => void channel.close());
  return client;
}

/** The channel a client uses: calls METHODS (+ extra methods), receives EVENTS, serves nothing. */
export function createClientChannel<X extends MethodTable>(options: ConnectOptions<X> = {}): Channel {
  const extra = options.extraMethods ?? ({} as X);
  for (const name of Object.keys(extra)) {
    if (!name.startsWith(MONITOR_PREFIX)) throw new TypeError(`extra method ${name} must start with ${MONITOR_PREFIX}`);
  }
  return new Channel({
    name: options.name ?? "agent-client",
    role: "initiator",
    remote: { methods: { ...METHODS, ...extra } as MethodTable, events: EVENTS },
    timeouts: DEFAULT_TIMEOUTS,
    windowBytes: options.windowBytes,
  });
}

/** Wrap a channel (already attached or to be attached) as an Agent. */
export function agentOverChannel<X extends MethodTable = Record<never, never>>(channel: Channel): AgentClient<X> {
  const closeListeners = new Set<(error?: Error) => void>();
  let closedFired = false;
  channel.onSessionEnd((error) => {
    if (closedFired) return;
    closedFired = true;
    for (const l of [...closeListeners]) l(error);
  });
  const stdioStreams = new Map<number, DataStream>();

  const call = async (method: string, request: unknown, options: CallOptions = {}): Promise<unknown> => {
    try {
      return await channel.call(method, request as never, options);
    } catch (e) {
      // The process never got its streams: drop them so nothing waits on them.
      const stdio = (request as { stdio?: Stdio } | undefined)?.stdio;
      if (stdio && (method === "createContainer" || method === "exec")) {
        for (const id of [stdio.stdin, stdio.stdout, stdio.stderr]) {
          if (id === undefined) continue;
          stdioStreams.get(id)?.fail(new Error(`${method} failed`), true);
          stdioStreams.delete(id);
        }
      }
      throw e;
    }
  };

  return {
    channel,
    call<M extends MethodName>(method: M, request: MethodRequest<M>, options?: CallOptions): Promise<MethodResponse<M>> {
      return call(method, request, options) as Promise<MethodResponse<M>>;
    },
    callExtra<M extends keyof X & string>(method: M, request: Req<X, M>, options?: CallOptions): Promise<Res<X, M>> {
      return call(method, request, options) as Promise<Res<X, M>>;
    },
    openStdio(want: StdioRequest): { stdio: Stdio; streams: ProcessStreams } {
      const stdio: Stdio = { terminal: want.terminal };
      const streams: ProcessStreams = {};
      // Forget finished streams, so the map does not grow with every process.
      for (const [id, s] of stdioStreams) if (s.finished) stdioStreams.delete(id);
      const track = (s: DataStream) => {
        stdioStreams.set(s.id, s);
        return s;
      };
      if (want.stdin) {
        const s = track(channel.openStream({ read: false, write: true }));
        stdio.stdin = s.id;
        streams.stdin = s.writable;
      }
      if (want.stdout) {
        const s = track(channel.openStream({ read: true, write: false }));
        stdio.stdout = s.id;
        streams.stdout = s.readable;
      }
      if (want.stderr && !want.terminal) {
        const s = track(channel.openStream({ read: true, write: false }));
        stdio.stderr = s.id;
        streams.stderr = s.readable;
      }
      if (want.rows !== undefined) stdio.rows = want.rows;
      if (want.cols !== undefined) stdio.cols = want.cols;
      return { stdio, streams };
    },
    on<E extends EventName>(event: E, handler: (payload: EventPayload<E>) => void): () => void {
      return channel.on(event, handler as (p: unknown) => void);
    },
    onClose(listener: (error?: Error) => void): () => void {
      closeListeners.add(listener);
      return () => closeListeners.delete(listener);
    },
    async close(): Promise<void> {
      log.debug(`${channel.name}: closing`);
      stdioStreams.clear();
      await channel.close();
    },
  };
}
