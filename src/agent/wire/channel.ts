import * as v from "valibot";
import { ProtocolError, TimeoutError, isHuskError } from "../../host/errors.ts";
import { logger } from "../../host/log.ts";
import { AgentErrorSchema, MAX_FRAME_BYTES, PROTOCOL_VERSION } from "../protocol.ts";
import { FrameDecoder } from "./decoder.ts";
import { decodeCredit, decodeJson, encodeCredit, encodeFrame, encodeJson, type Frame, FrameType, frameTypeName, HEADER_BYTES } from "./frame.ts";
import { DEFAULT_WINDOW_BYTES, DataStream, type StreamDirections, StreamResetError } from "./stream.ts";
import type { MethodTable, Req, Res } from "./table.ts";
import type { Transport } from "./transport.ts";
import { CancelledError, describeIssues, errMessage, EventBodySchema, HelloSchema, MAX_PENDING_CREDIT_STREAMS, PENDING_CREDIT_TTL_MS, RequestBodySchema, ResetBodySchema, safely, toHuskError, type CallOptions, type ChannelOptions, type Pending, type RequestContext } from "./channel-parts.ts";

export { CancelledError, describeIssues, type CallOptions, type ChannelOptions, type RequestContext, type RequestHandler } from "./channel-parts.ts";

const log = logger("agent-wire");


/**
 * One multiplexed, framed channel over a Transport: handshake, requests with
 * timeouts and cancellation, events, flow-controlled data streams. Generic
 * over the method tables of both ends. A session is one Transport; attach()
 * starts a new one (reconnect), ending the previous session's calls and
 * streams. Any protocol violation by the peer ends the session (logged),
 * never throws into the caller's event loop, and never buffers unbounded.
 */
export class Channel<R extends MethodTable = MethodTable, L extends MethodTable = MethodTable> {
  readonly name: string;
  readonly role: "initiator" | "responder";
  private readonly opts: ChannelOptions<R, L>;
  private readonly window: number;
  private transport: Transport | undefined;
  private decoder: FrameDecoder;
  private open = false;
  private closed = false;
  private fatal: Error | undefined;
  private nonce = "";
  private helloTimer: ReturnType<typeof setInterval> | undefined;
  private readyWaiters: { resolve(): void; reject(e: Error): void }[] = [];
  private sessionEndListeners = new Set<(error?: Error) => void>();

  private nextRequestId = 0;
  private pending = new Map<number, Pending>();
  private inflight = new Map<number, AbortController>();
  private streams = new Map<number, DataStream>();
  private nextStreamId: number;
  private pendingCredit = new Map<number, { bytes: number; at: number }>();
  private listeners = new Map<string, Set<(payload: unknown) => void>>();
  private anyListeners = new Set<(event: string, payload: unknown) => void>();

  constructor(options: ChannelOptions<R, L>) {
    this.opts = options;
    this.name = options.name;
    this.role = options.role;
    this.window = options.windowBytes ?? DEFAULT_WINDOW_BYTES;
    this.nextStreamId = options.role === "initiator" ? 1 : 2;
    this.decoder = this.makeDecoder();
  }

  get isOpen(): boolean {
    return this.open;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Streams alive now (for tests and leak checks). */
  get streamCount(): number {
    return this.streams.size;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Start a session on a transport (ending any previous one). */
  attach(transport: Transport): void {
    if (this.closed) {
      transport.close();
      return;
    }
    if (this.transport) this.endSession(new ProtocolError(`${this.name}: replaced by a new connection`));
    this.transport = transport;
    this.decoder = this.makeDecoder();
    transport.start({
      data: (chunk) => {
        if (this.transport === transport) this.decoder.push(chunk);
      },
      close: (error) => {
        if (this.transport === transport) {
          this.endSession(new ProtocolError(`${this.name}: connection closed${error ? `: ${error.message}` : ""}`, error ? { cause: error } : {}));
        }
      },
    });
    if (this.role === "initiator") this.startHello();
  }

  /** Resolves once the handshake of the current (or next) session completes. */
  ready(signal?: AbortSignal): Promise<void> {
    if (this.fatal) return Promise.reject(this.fatal);
    if (this.closed) return Promise.reject(new ProtocolError(`${this.name}: channel closed`));
    if (this.open) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
        reject: (e: Error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(e);
        },
      };
      const onAbort = () => {
        this.readyWaiters = this.readyWaiters.filter((w) => w !== waiter);
        reject(signal!.reason instanceof Error ? signal!.reason : new ProtocolError(`${this.name}: not connected`));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.readyWaiters.push(waiter);
    });
  }

  /** Called when a session ends (connection lost or reset); not called for close(). */
  onSessionEnd(listener: (error?: Error) => void): () => void {
    this.sessionEndListeners.add(listener);
    return () => this.sessionEndListeners.delete(listener);
  }

  async call<M extends keyof R & string>(method: M, request: Req<R, M>, options: CallOptions = {}): Promise<Res<R, M>> {
    const spec = this.opts.remote?.methods[method];
    if (!spec) throw new ProtocolError(`${this.name}: unknown method ${method}`);
    const checked = v.safeParse(spec.request, request);
    if (!checked.success) {
      throw new ProtocolError(`invalid ${method} request: ${describeIssues(checked.issues)}`, { details: { method } });
    }
    // Encoded before anything is registered: a request too large for one frame
    // is the caller's error (E_PROTOCOL naming the size), not a pending call.
    const payload = encodeJson({ method, params: checked.output });
    const maxFrame = this.opts.maxFrameBytes ?? MAX_FRAME_BYTES;
    if (HEADER_BYTES + payload.length > maxFrame) {
      throw new ProtocolError(`${method} request is ${HEADER_BYTES + payload.length} bytes, over the ${maxFrame}-byte frame limit`, {
        details: { method, bytes: HEADER_BYTES + payload.length, limit: maxFrame },
      });
    }
    const timeoutMs = options.timeoutMs !== undefined ? options.timeoutMs : this.timeoutFor(method);
    const ctl = new AbortController();
    const timer =
      timeoutMs === null
        ? undefined
        : setTimeout(() => ctl.abort(new TimeoutError(`${method} timed out after ${timeoutMs} ms`, { details: { method, timeoutMs } })), timeoutMs);
    const onOuterAbort = () => ctl.abort(new CancelledError(method, options.signal?.reason));
    if (options.signal?.aborted) onOuterAbort();
    else options.signal?.addEventListener("abort", onOuterAbort, { once: true });
    try {
      await this.ready(ctl.signal);
      if (ctl.signal.aborted) throw ctl.signal.reason;
      const id = (this.nextRequestId = (this.nextRequestId + 1) >>> 0 || 1);
      const result = new Promise<unknown>((resolve, reject) => {
        this.pending.set(id, { method, resolve, reject });
        ctl.signal.addEventListener(
          "abort",
          () => {
            if (!this.pending.delete(id)) return;
            void this.send(FrameType.CANCEL, id).catch(() => {});
            reject(ctl.signal.reason);
          },
          { once: true },
        );
      });
      void this.send(FrameType.REQUEST, id, payload).catch((e) => {
        const p = this.pending.get(id);
        if (p) {
          this.pending.delete(id);
          p.reject(e instanceof Error ? e : new ProtocolError(String(e)));
        }
      });
      return (await result) as Res<R, M>;
    } finally {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener("abort", onOuterAbort);
    }
  }

  on<E extends string>(event: E, handler: (payload: unknown) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(handler);
    return () => set!.delete(handler);
  }

  /** Every valid event from the peer (the router uses this to fan out). */
  onAnyEvent(handler: (event: string, payload: unknown) => void): () => void {
    this.anyListeners.add(handler);
    return () => this.anyListeners.delete(handler);
  }

  /** Send an event to the peer; dropped (with a debug log) when not connected. */
  emit(event: string, payload: unknown): void {
    const schema = this.opts.local?.events[event];
    if (!schema) throw new ProtocolError(`${this.name}: unknown event ${event}`);
    const checked = v.safeParse(schema, payload);
    if (!checked.success) throw new ProtocolError(`invalid ${event} event: ${describeIssues(checked.issues)}`);
    if (!this.open) {
      log.debug(`${this.name}: not connected, dropping ${event} event`);
      return;
    }
    void this.send(FrameType.EVENT, 0, encodeJson({ event, payload: checked.output })).catch(() => {});
  }

  /** A new stream with an id we allocate; put the id in a request so the peer attaches it. */
  openStream(directions: StreamDirections): DataStream {
    const id = this.nextStreamId;
    this.nextStreamId = (this.nextStreamId + 2) >>> 0;
    return this.addStream(id, directions);
  }

  /** Attach to a stream id the peer allocated (named in its request). */
  attachStream(id: number, directions: StreamDirections): DataStream {
    const peerParity = this.role === "initiator" ? 0 : 1;
    if (id === 0 || id % 2 !== peerParity) throw new ProtocolError(`${this.name}: stream id ${id} was not allocated by the peer`);
    if (this.streams.has(id)) throw new ProtocolError(`${this.name}: stream ${id} is already attached`);
    const stream = this.addStream(id, directions);
    const credit = this.pendingCredit.get(id);
    if (credit) {
      this.pendingCredit.delete(id);
      stream.onCredit(credit.bytes);
    }
    return stream;
  }

  /** End the channel for good: fail calls and streams, close the transport. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new ProtocolError(`${this.name}: channel closed`);
    this.endSession(err, false);
    for (const w of this.readyWaiters.splice(0)) w.reject(this.fatal ?? err);
  }

  /** Reset the session because the peer broke the protocol: log, tell the peer, drop everything. */
  resetSession(error: Error): void {
    if (!this.transport) return;
    log.warn(`${this.name}: resetting channel: ${error.message}`);
    const t = this.transport;
    const frame = encodeFrame(FrameType.RESET, 0, encodeJson({ message: error.message.slice(0, 4000) }));
    void t.write(frame).catch(() => {});
    this.endSession(error);
  }

  // ---------------------------------------------------------------- internals

  private makeDecoder(): FrameDecoder {
    return new FrameDecoder(
      (f) => this.onFrame(f),
      (e) => this.resetSession(e),
      { maxFrameBytes: this.opts.maxFrameBytes ?? MAX_FRAME_BYTES, startInSync: true },
    );
  }

  private timeoutFor(method: string): number | null {
    const t = this.opts.timeouts?.[method];
    if (t !== undefined) return t;
    return this.opts.defaultTimeoutMs ?? 30_000;
  }

  private startHello(): void {
    this.nonce = crypto.randomUUID();
    const hello = encodeFrame(FrameType.HELLO, 0, encodeJson({ version: PROTOCOL_VERSION, nonce: this.nonce }));
    const t = this.transport!;
    const sendHello = () => void t.write(hello).catch(() => {});
    sendHello();
    this.helloTimer = setInterval(sendHello, this.opts.helloRetryMs ?? 1000);
  }

  private stopHello(): void {
    if (this.helloTimer) clearInterval(this.helloTimer);
    this.helloTimer = undefined;
  }

  private endSession(error: Error, notify = true): void {
    const t = this.transport;
    const wasOpen = this.open;
    this.transport = undefined;
    this.open = false;
    this.stopHello();
    this.decoder.reset();
    for (const [, p] of this.pending) p.reject(error);
    this.pending.clear();
    for (const [, c] of this.inflight) c.abort(error);
    this.inflight.clear();
    for (const s of [...this.streams.values()]) s.fail(new StreamResetError(s.id, error.message));
    this.streams.clear();
    this.pendingCredit.clear();
    if (t) {
      t.close();
      if (notify) {
        if (wasOpen) log.debug(`${this.name}: session ended: ${error.message}`);
        for (const l of [...this.sessionEndListeners]) safely(() => l(error));
      }
    }
  }

  private becomeOpen(): void {
    this.open = true;
    this.stopHello();
    for (const w of this.readyWaiters.splice(0)) w.resolve();
  }

  /** Tear down what a session holds without closing the transport (responder got a new HELLO). */
  private restartSession(): void {
    const err = new ProtocolError(`${this.name}: peer restarted the session`);
    this.open = false;
    for (const [, p] of this.pending) p.reject(err);
    this.pending.clear();
    for (const [, c] of this.inflight) c.abort(err);
    this.inflight.clear();
    for (const s of [...this.streams.values()]) s.fail(new StreamResetError(s.id, err.message));
    this.streams.clear();
    this.pendingCredit.clear();
    for (const l of [...this.sessionEndListeners]) safely(() => l(err));
  }

  private send(type: FrameType, id: number, payload?: Uint8Array): Promise<void> {
    const t = this.transport;
    if (!t) return Promise.reject(new ProtocolError(`${this.name}: not connected`));
    const limit = this.opts.maxPendingWriteBytes ?? 32 * 1024 * 1024;
    if (t.pendingBytes > limit) {
      const err = new ProtocolError(`${this.name}: peer is not reading (${t.pendingBytes} bytes queued)`);
      this.resetSession(err);
      return Promise.reject(err);
    }
    let frame: Uint8Array;
    try {
      frame = encodeFrame(type, id, payload);
    } catch (e) {
      // Over the frame limit: the caller's error, never a throw out of a `void send(...)`.
      return Promise.reject(new ProtocolError(`${this.name}: ${frameTypeName(type)} not sent: ${errMessage(e)}`, { cause: e }));
    }
    return t.write(frame);
  }

  private violation(message: string): void {
    this.resetSession(new ProtocolError(`${this.name}: ${message}`));
  }

  private onFrame(f: Frame): void {
    if (f.type === FrameType.HELLO) return this.onHello(f);
    if (!this.open) {
      log.debug(`${this.name}: ignoring ${frameTypeName(f.type)} before the handshake`);
      return;
    }
    switch (f.type) {
      case FrameType.REQUEST:
        return this.onRequest(f);
      case FrameType.RESPONSE:
      case FrameType.ERROR:
        return this.onReply(f);
      case FrameType.EVENT:
        return this.onEvent(f);
      case FrameType.CANCEL:
        this.inflight.get(f.id)?.abort(new CancelledError("request", undefined));
        return;
      case FrameType.DATA:
      case FrameType.CREDIT:
      case FrameType.CLOSE:
      case FrameType.RESET:
        return this.onStreamFrame(f);
    }
  }

  private onHello(f: Frame): void {
    let hello: v.InferOutput<typeof HelloSchema>;
    try {
      hello = v.parse(HelloSchema, decodeJson(f.payload));
    } catch (e) {
      return this.violation(`malformed HELLO: ${errMessage(e)}`);
    }
    if (this.role === "responder") {
      // A retried HELLO of the session we are in (queued while we were not reading) changes nothing.
      if (this.open && hello.nonce === this.nonce) return;
      if (this.open) this.restartSession();
      this.nonce = hello.nonce;
      void this.send(FrameType.HELLO, 0, encodeJson({ version: PROTOCOL_VERSION, nonce: hello.nonce })).catch(() => {});
      if (hello.version !== PROTOCOL_VERSION) {
        log.error(`${this.name}: peer speaks protocol version ${hello.version}, this side speaks ${PROTOCOL_VERSION}`);
        return;
      }
      this.becomeOpen();
      return;
    }
    if (this.open || hello.nonce !== this.nonce) {
      log.debug(`${this.name}: ignoring a stale HELLO`);
      return;
    }
    if (hello.version !== PROTOCOL_VERSION) {
      this.fatal = new ProtocolError(
        `protocol version mismatch: the peer speaks version ${hello.version}, this side speaks ${PROTOCOL_VERSION}; rebuild the guest image with this husk`,
        { details: { peerVersion: hello.version, version: PROTOCOL_VERSION } },
      );
      log.error(`${this.name}: ${this.fatal.message}`);
      for (const w of this.readyWaiters.splice(0)) w.reject(this.fatal);
      this.closed = true;
      this.endSession(this.fatal);
      return;
    }
    this.becomeOpen();
  }

  private onRequest(f: Frame): void {
    let body: v.InferOutput<typeof RequestBodySchema>;
    try {
      body = v.parse(RequestBodySchema, decodeJson(f.payload));
    } catch (e) {
      return this.violation(`malformed REQUEST: ${errMessage(e)}`);
    }
    if (this.inflight.has(f.id)) return this.violation(`duplicate request id ${f.id}`);
    const reply = (code: string, message: string) =>
      void this.send(FrameType.ERROR, f.id, encodeJson({ code, message: message.slice(0, 4000) })).catch(() => {});
    const local = this.opts.local;
    const spec = local?.methods[body.method];
    if (!local || !spec || !Object.hasOwn(local.methods, body.method)) {
      return reply("E_UNSUPPORTED", `unknown method ${body.method}`);
    }
    if (this.inflight.size >= (this.opts.maxInflight ?? 1024)) return reply("E_AGENT", "too many requests in flight");
    const params = v.safeParse(spec.request, body.params);
    if (!params.success) return reply("E_PROTOCOL", `invalid ${body.method} request: ${describeIssues(params.issues)}`);
    const ctl = new AbortController();
    this.inflight.set(f.id, ctl);
    const transport = this.transport;
    const ctx: RequestContext = { method: body.method, signal: ctl.signal, channel: this as unknown as Channel };
    void (async () => {
      try {
        const result = await local.handler(body.method, params.output, ctx);
        const out = v.safeParse(spec.response, result);
        if (!out.success) throw new ProtocolError(`handler returned an invalid ${body.method} response: ${describeIssues(out.issues)}`);
        if (this.inflight.get(f.id) === ctl && this.transport === transport) {
          await this.send(FrameType.RESPONSE, f.id, encodeJson(out.output));
        }
      } catch (e) {
        if (this.inflight.get(f.id) === ctl && this.transport === transport && !ctl.signal.aborted) {
          const code = isHuskError(e) ? e.code : "E_AGENT";
          reply(code, errMessage(e));
        }
        log.debug(`${this.name}: ${body.method} failed: ${errMessage(e)}`);
      } finally {
        if (this.inflight.get(f.id) === ctl) this.inflight.delete(f.id);
      }
    })();
  }

  private onReply(f: Frame): void {
    const p = this.pending.get(f.id);
    if (!p) {
      // A reply to a request we already gave up on (timeout, cancel) is normal; one we never sent is not.
      if (f.id !== 0 && f.id <= this.nextRequestId) return;
      return this.violation(`${frameTypeName(f.type)} for unknown request ${f.id}`);
    }
    this.pending.delete(f.id);
    let body: unknown;
    try {
      body = decodeJson(f.payload);
    } catch (e) {
      p.reject(new ProtocolError(`malformed reply to ${p.method}: ${errMessage(e)}`));
      return this.violation(`malformed ${frameTypeName(f.type)}: ${errMessage(e)}`);
    }
    if (f.type === FrameType.ERROR) {
      const err = v.safeParse(AgentErrorSchema, body);
      if (!err.success) {
        p.reject(new ProtocolError(`malformed error reply to ${p.method}`));
        return this.violation(`malformed ERROR: ${describeIssues(err.issues)}`);
      }
      p.reject(toHuskError(p.method, err.output.code, err.output.message));
      return;
    }
    const spec = this.opts.remote!.methods[p.method]!;
    const res = v.safeParse(spec.response, body);
    if (!res.success) {
      const e = new ProtocolError(`invalid ${p.method} response from ${this.name}: ${describeIssues(res.issues)}`, { details: { method: p.method } });
      p.reject(e);
      return this.resetSession(e);
    }
    p.resolve(res.output);
  }

  private onEvent(f: Frame): void {
    let body: v.InferOutput<typeof EventBodySchema>;
    try {
      body = v.parse(EventBodySchema, decodeJson(f.payload));
    } catch (e) {
      return this.violation(`malformed EVENT: ${errMessage(e)}`);
    }
    const events = this.opts.remote?.events;
    const schema = events && Object.hasOwn(events, body.event) ? events[body.event] : undefined;
    if (!schema) return this.violation(`unknown event ${body.event}`);
    const payload = v.safeParse(schema, body.payload);
    if (!payload.success) return this.violation(`invalid ${body.event} event: ${describeIssues(payload.issues)}`);
    for (const h of [...(this.listeners.get(body.event) ?? [])]) safely(() => h(payload.output));
    for (const h of [...this.anyListeners]) safely(() => h(body.event, payload.output));
  }

  private onStreamFrame(f: Frame): void {
    if (f.id === 0) {
      if (f.type === FrameType.RESET) {
        let message = "no reason given";
        try {
          message = v.parse(ResetBodySchema, decodeJson(f.payload)).message ?? message;
        } catch {
          // the reason is informational only
        }
        log.warn(`${this.name}: peer reset the channel: ${message}`);
        this.endSession(new ProtocolError(`${this.name}: peer reset the channel: ${message}`));
        return;
      }
      return this.violation(`${frameTypeName(f.type)} on stream 0`);
    }
    const s = this.streams.get(f.id);
    if (!s) {
      if (f.type === FrameType.CREDIT) return this.stashCredit(f);
      if (f.type === FrameType.DATA) void this.send(FrameType.RESET, f.id).catch(() => {});
      return; // CLOSE/RESET for a stream already gone: late, harmless
    }
    let problem: string | undefined;
    switch (f.type) {
      case FrameType.DATA:
        problem = s.onData(f.payload);
        break;
      case FrameType.CREDIT: {
        const n = decodeCredit(f.payload);
        problem = n === null ? "malformed CREDIT" : s.onCredit(n);
        break;
      }
      case FrameType.CLOSE:
        problem = s.onRemoteClose();
        break;
      case FrameType.RESET:
        s.fail(new StreamResetError(f.id, "reset by peer"));
        return;
    }
    if (problem) {
      log.warn(`${this.name}: stream ${f.id}: ${problem}; resetting the stream`);
      s.fail(new StreamResetError(f.id, problem), true);
    }
  }

  private stashCredit(f: Frame): void {
    const n = decodeCredit(f.payload);
    if (n === null) return this.violation("malformed CREDIT");
    const now = Date.now();
    if (this.pendingCredit.size >= MAX_PENDING_CREDIT_STREAMS) {
      for (const [id, c] of this.pendingCredit) if (now - c.at > PENDING_CREDIT_TTL_MS) this.pendingCredit.delete(id);
      if (this.pendingCredit.size >= MAX_PENDING_CREDIT_STREAMS) return this.violation("credit for too many unknown streams");
    }
    const prev = this.pendingCredit.get(f.id);
    this.pendingCredit.set(f.id, { bytes: Math.min(0xffff_ffff, (prev?.bytes ?? 0) + n), at: now });
  }

  private addStream(id: number, directions: StreamDirections): DataStream {
    const stream = new DataStream(
      id,
      directions,
      {
        sendData: (sid, bytes) => this.send(FrameType.DATA, sid, bytes),
        sendCredit: (sid, bytes) => void this.send(FrameType.CREDIT, sid, encodeCredit(bytes)).catch(() => {}),
        sendClose: (sid) => void this.send(FrameType.CLOSE, sid).catch(() => {}),
        sendReset: (sid) => void this.send(FrameType.RESET, sid).catch(() => {}),
        release: (sid) => {
          if (this.streams.get(sid) === stream) this.streams.delete(sid);
        },
      },
      this.window,
    );
    this.streams.set(id, stream);
    if (!this.open) stream.fail(new StreamResetError(id, `${this.name}: not connected`));
    return stream;
  }
}
