import { EventHub } from "./events.ts";
import { RpcClient } from "./rpc-client.ts";
import { RpcServer } from "./rpc-server.ts";
import { Session } from "./session.ts";
import { DEFAULT_WINDOW_BYTES, type DataStream, type StreamDirections } from "./stream.ts";
import { StreamTable } from "./streams.ts";
import type { MethodTable, Req, Res } from "./table.ts";
import type { Transport } from "./transport.ts";
import type { CallOptions, ChannelOptions } from "./channel-parts.ts";

export {
  CancelledError,
  describeIssues,
  type CallOptions,
  type ChannelOptions,
  type RequestContext,
  type RequestHandler,
} from "./channel-parts.ts";

/**
 * One multiplexed, framed channel over a Transport: handshake, requests with
 * timeouts and cancellation, events, flow-controlled data streams. Generic
 * over the method tables of both ends. A session is one Transport; attach()
 * starts a new one (reconnect), ending the previous session's calls and
 * streams. Any protocol violation by the peer ends the session (logged),
 * never throws into the caller's event loop, and never buffers unbounded.
 *
 * The parts: ./session.ts (transport, handshake, routing, session end),
 * ./rpc-client.ts (our calls), ./rpc-server.ts (the peer's calls),
 * ./events.ts, ./streams.ts (the data streams, each a ./stream.ts).
 */
export class Channel<R extends MethodTable = MethodTable, L extends MethodTable = MethodTable> {
  readonly name: string;
  readonly role: "initiator" | "responder";
  private readonly session: Session;
  private readonly client: RpcClient<R>;
  private readonly server: RpcServer<L>;
  private readonly events: EventHub;
  private readonly streams: StreamTable;

  constructor(options: ChannelOptions<R, L>) {
    this.name = options.name;
    this.role = options.role;
    // A session end fails, in order: our pending calls, the handlers we run, the streams.
    this.session = new Session(options, {
      request: (f) => this.server.onRequest(f),
      reply: (f) => this.client.onReply(f),
      event: (f) => this.events.onEvent(f),
      cancel: (id) => this.server.onCancel(id),
      stream: (f) => this.streams.onFrame(f),
      drop: (error) => {
        this.client.drop(error);
        this.server.drop(error);
        this.streams.drop(error);
      },
    });
    this.client = new RpcClient(this.session, options);
    this.server = new RpcServer(this.session, options.local, options.maxInflight ?? 1024, this as unknown as Channel);
    this.events = new EventHub(this.session, options.local?.events, options.remote?.events);
    this.streams = new StreamTable(this.session, options.windowBytes ?? DEFAULT_WINDOW_BYTES);
  }

  get isOpen(): boolean {
    return this.session.isOpen;
  }

  get isClosed(): boolean {
    return this.session.isClosed;
  }

  /** Streams alive now (for tests and leak checks). */
  get streamCount(): number {
    return this.streams.count;
  }

  get pendingCount(): number {
    return this.client.pendingCount;
  }

  /** Start a session on a transport (ending any previous one). */
  attach(transport: Transport): void {
    this.session.attach(transport);
  }

  /** Resolves once the handshake of the current (or next) session completes. */
  ready(signal?: AbortSignal): Promise<void> {
    return this.session.ready(signal);
  }

  /** Called when a session ends (connection lost or reset); not called for close(). */
  onSessionEnd(listener: (error?: Error) => void): () => void {
    return this.session.onSessionEnd(listener);
  }

  call<M extends keyof R & string>(method: M, request: Req<R, M>, options: CallOptions = {}): Promise<Res<R, M>> {
    return this.client.call(method, request, options);
  }

  on<E extends string>(event: E, handler: (payload: unknown) => void): () => void {
    return this.events.on(event, handler);
  }

  /** Every valid event from the peer (the router uses this to fan out). */
  onAnyEvent(handler: (event: string, payload: unknown) => void): () => void {
    return this.events.onAny(handler);
  }

  /** Send an event to the peer; dropped (with a debug log) when not connected. */
  emit(event: string, payload: unknown): void {
    this.events.emit(event, payload);
  }

  /** A new stream with an id we allocate; put the id in a request so the peer attaches it. */
  openStream(directions: StreamDirections): DataStream {
    return this.streams.open(directions);
  }

  /** Attach to a stream id the peer allocated (named in its request). */
  attachStream(id: number, directions: StreamDirections): DataStream {
    return this.streams.attach(id, directions);
  }

  /** End the channel for good: fail calls and streams, close the transport. */
  async close(): Promise<void> {
    this.session.close();
  }

  /** Reset the session because the peer broke the protocol: log, tell the peer, drop everything. */
  resetSession(error: Error): void {
    this.session.resetSession(error);
  }
}
