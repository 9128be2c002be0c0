import type net from "node:net";
import { logger } from "../host/log.ts";
import { agentOverChannel, createClientChannel, DEFAULT_TIMEOUTS } from "./client.ts";
import { EVENTS, METHODS, type Stdio } from "./protocol.ts";
import { memoryPair } from "./transport/memory.ts";
import { socketTransport } from "./transport/unix.ts";
import type { Agent } from "./types.ts";
import { Channel, type RequestContext } from "./wire/channel.ts";
import type { DataStream } from "./wire/stream.ts";
import { MONITOR_PREFIX, type MethodTable } from "./wire/table.ts";
import type { Transport } from "./wire/transport.ts";

const log = logger("agent-router");

/** One connection on the monitor socket (a CLI, a shim, or the monitor's own agent). */
export interface RouterClient {
  readonly id: number;
  readonly channel: Channel;
  close(): void;
}

export interface AgentRouterOptions<X extends MethodTable> {
  /** The single channel to the guest agent (createGuestChannel + keepGuestConnected). */
  guest: Channel;
  /** Methods the monitor answers itself; every name starts with "monitor.". */
  monitorMethods: X;
  /** Called for "monitor.*" requests, already validated against monitorMethods; the result is validated too. */
  onMonitorCall(method: string, request: unknown, client: RouterClient): Promise<unknown>;
}

export interface AgentRouter {
  /** Serve one accepted connection on the monitor socket. */
  addClient(socket: net.Socket): RouterClient;
  /** Serve a connection over any transport. */
  addTransport(transport: Transport, label?: string): RouterClient;
  /** The monitor's own client, routed like any other (so it sees the same events). */
  readonly agent: Agent;
  readonly clientCount: number;
  /** Close every client connection (the guest channel is the caller's). */
  close(): Promise<void>;
}

/** The initiator channel the monitor holds to the guest agent. */
export function createGuestChannel(name = "guest"): Channel {
  return new Channel({
    name,
    role: "initiator",
    remote: { methods: METHODS, events: EVENTS },
    timeouts: DEFAULT_TIMEOUTS,
  });
}

/**
 * Keep the guest channel connected: connect, attach, and when the session
 * ends (reset, QEMU chardev dropped) connect again after a back-off. A
 * virtio-serial port has no connection of its own: each new host connection
 * starts with a fresh HELLO and the guest restarts its session.
 */
export function keepGuestConnected(
  channel: Channel,
  connect: () => Promise<Transport>,
  options: { retryMs?: number; maxRetryMs?: number } = {},
): { stop(): void } {
  let stopped = false;
  let delay = options.retryMs ?? 100;
  const max = options.maxRetryMs ?? 2000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const attempt = async () => {
    if (stopped || channel.isClosed) return;
    try {
      const t = await connect();
      if (stopped || channel.isClosed) return t.close();
      channel.attach(t);
      void channel.ready().then(
        () => (delay = options.retryMs ?? 100),
        () => {},
      );
    } catch (e) {
      log.debug(`guest connect failed: ${e instanceof Error ? e.message : String(e)}`);
      schedule();
    }
  };
  const schedule = () => {
    if (stopped || channel.isClosed) return;
    timer = setTimeout(() => void attempt(), delay);
    delay = Math.min(max, delay * 2);
  };
  const off = channel.onSessionEnd(() => schedule());
  void attempt();
  return {
    stop() {
      stopped = true;
      off();
      if (timer) clearTimeout(timer);
    },
  };
}

/**
 * Route N client connections onto the one guest channel. Each client has its
 * own request and stream id spaces; the router gives each forwarded request a
 * guest request id (the guest channel does) and each stdio stream a guest
 * stream id, and pipes data both ways with flow control end to end (what it
 * holds per stream is bounded by the credit windows). Events from the guest
 * go to every client. A client that disconnects has its requests cancelled
 * and its streams reset on the guest; the others are not affected.
 */
export function createAgentRouter<X extends MethodTable>(options: AgentRouterOptions<X>): AgentRouter {
  const { guest, monitorMethods, onMonitorCall } = options;
  for (const name of Object.keys(monitorMethods)) {
    if (!name.startsWith(MONITOR_PREFIX)) throw new TypeError(`monitor method ${name} must start with ${MONITOR_PREFIX}`);
  }
  const clients = new Set<RouterClient>();
  let nextClientId = 1;

  guest.onAnyEvent((event, payload) => {
    for (const c of clients) {
      try {
        c.channel.emit(event, payload);
      } catch (e) {
        log.warn(`client ${c.id}: dropping ${event}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  });

  const forward = async (method: string, request: unknown, ctx: RequestContext): Promise<unknown> => {
    // Guest streams can only be opened on a live session (the guest may be reconnecting).
    await guest.ready(ctx.signal);
    const links: DataStream[] = [];
    try {
      let req = request;
      const stdio = (request as { stdio?: Stdio }).stdio;
      if (stdio && (method === "createContainer" || method === "exec" || method === "debugConsole")) {
        const mapped: Stdio = { ...stdio };
        if (stdio.stdin !== undefined) {
          const c = ctx.channel.attachStream(stdio.stdin, { read: true, write: false });
          links.push(c);
          const g = guest.openStream({ read: false, write: true });
          links.push(g);
          pipe(c.readable!, g.writable!, `stdin ${stdio.stdin}->${g.id}`);
          mapped.stdin = g.id;
        }
        for (const key of ["stdout", "stderr"] as const) {
          const id = stdio[key];
          if (id === undefined) continue;
          const c = ctx.channel.attachStream(id, { read: false, write: true });
          links.push(c);
          const g = guest.openStream({ read: true, write: false });
          links.push(g);
          pipe(g.readable!, c.writable!, `${key} ${g.id}->${id}`);
          mapped[key] = g.id;
        }
        req = { ...(request as object), stdio: mapped };
      }
      // No router-side timeout: the client has its own and cancels through us.
      return await guest.call(method as never, req as never, { signal: ctx.signal, timeoutMs: null });
    } catch (e) {
      for (const s of links) s.fail(new Error(`${method} failed`), true);
      throw e;
    }
  };

  const addTransport = (transport: Transport, label = transport.label): RouterClient => {
    const id = nextClientId++;
    // eslint-disable-next-line prefer-const
    let client: RouterClient;
    const channel = new Channel({
      name: `client ${id} (${label})`,
      role: "responder",
      local: {
        methods: { ...METHODS, ...monitorMethods } as MethodTable,
        events: EVENTS,
        handler: (method, request, ctx) =>
          method.startsWith(MONITOR_PREFIX) ? onMonitorCall(method, request, client) : forward(method, request, ctx),
      },
    });
    client = {
      id,
      channel,
      close: () => void channel.close(),
    };
    clients.add(client);
    channel.onSessionEnd((e) => {
      log.debug(`client ${id} gone: ${e?.message ?? "closed"}`);
      clients.delete(client);
      void channel.close();
    });
    channel.attach(transport);
    log.debug(`client ${id} connected (${label})`);
    return client;
  };

  // The monitor's own agent: an in-memory connection through the router.
  const [mine, theirs] = memoryPair();
  const ownChannel = createClientChannel({ name: "monitor-self" });
  ownChannel.attach(mine);
  const self = addTransport(theirs, "monitor");
  const agent = agentOverChannel(ownChannel);

  return {
    addClient: (socket) => addTransport(socketTransport(socket, "monitor.sock"), "monitor.sock"),
    addTransport,
    agent,
    get clientCount() {
      return clients.size - (clients.has(self) ? 1 : 0);
    },
    async close() {
      await agent.close();
      for (const c of [...clients]) c.close();
      clients.clear();
    },
  };
}

function pipe(from: ReadableStream<Uint8Array>, to: WritableStream<Uint8Array>, what: string): void {
  from.pipeTo(to).catch((e) => log.debug(`${what}: ${e instanceof Error ? e.message : String(e)}`));
}
