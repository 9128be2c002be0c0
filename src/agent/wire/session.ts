import * as v from "valibot";
import { ProtocolError } from "../../host/errors.ts";
import { logger } from "../../host/log.ts";
import { MAX_FRAME_BYTES, PROTOCOL_VERSION } from "../protocol.ts";
import { FrameDecoder } from "./decoder.ts";
import { decodeJson, encodeFrame, encodeJson, type Frame, FrameType, frameTypeName } from "./frame.ts";
import type { Transport } from "./transport.ts";
import { errMessage, HelloSchema, ResetBodySchema, safely } from "./channel-parts.ts";

const log = logger("agent-wire");

export interface SessionOptions {
  name: string;
  role: "initiator" | "responder";
  maxFrameBytes?: number;
  helloRetryMs?: number;
  maxPendingWriteBytes?: number;
}

/** Where the session hands the frames of an open session, by kind (./channel.ts wires them). */
export interface FrameSinks {
  request(f: Frame): void;
  /** RESPONSE or ERROR. */
  reply(f: Frame): void;
  event(f: Frame): void;
  cancel(id: number): void;
  /** DATA, CREDIT, CLOSE or RESET on a stream (id ≠ 0). */
  stream(f: Frame): void;
  /** The session ended or the peer restarted it: fail everything it held, in this order. */
  drop(error: Error): void;
}

/**
 * The session layer of a Channel: one Transport at a time, the HELLO
 * handshake (with version check and retries), frame routing once open,
 * bounded writes, and the end of a session (reset, close, reconnect).
 */
export class Session {
  readonly name: string;
  readonly role: "initiator" | "responder";
  private transportNow: Transport | undefined;
  private decoder: FrameDecoder;
  private open = false;
  private closed = false;
  private fatal: Error | undefined;
  private nonce = "";
  private helloTimer: ReturnType<typeof setInterval> | undefined;
  private readyWaiters: { resolve(): void; reject(e: Error): void }[] = [];
  private sessionEndListeners = new Set<(error?: Error) => void>();

  constructor(
    private readonly opts: SessionOptions,
    private readonly sinks: FrameSinks,
  ) {
    this.name = opts.name;
    this.role = opts.role;
    this.decoder = this.makeDecoder();
  }

  get isOpen(): boolean {
    return this.open;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The current session's transport: a handler compares it to tell whether its session is still the one. */
  get transport(): Transport | undefined {
    return this.transportNow;
  }

  attach(transport: Transport): void {
    if (this.closed) {
      transport.close();
      return;
    }
    if (this.transportNow) this.endSession(new ProtocolError(`${this.name}: replaced by a new connection`));
    this.transportNow = transport;
    this.decoder = this.makeDecoder();
    transport.start({
      data: (chunk) => {
        if (this.transportNow === transport) this.decoder.push(chunk);
      },
      close: (error) => {
        if (this.transportNow === transport) {
          this.endSession(
            new ProtocolError(`${this.name}: connection closed${error ? `: ${error.message}` : ""}`, error ? { cause: error } : {}),
          );
        }
      },
    });
    if (this.role === "initiator") this.startHello();
  }

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

  onSessionEnd(listener: (error?: Error) => void): () => void {
    this.sessionEndListeners.add(listener);
    return () => this.sessionEndListeners.delete(listener);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const err = new ProtocolError(`${this.name}: channel closed`);
    this.endSession(err, false);
    for (const w of this.readyWaiters.splice(0)) w.reject(this.fatal ?? err);
  }

  resetSession(error: Error): void {
    if (!this.transportNow) return;
    log.warn(`${this.name}: resetting channel: ${error.message}`);
    const t = this.transportNow;
    const frame = encodeFrame(FrameType.RESET, 0, encodeJson({ message: error.message.slice(0, 4000) }));
    void t.write(frame).catch(() => {});
    this.endSession(error);
  }

  /** The peer broke the protocol: reset the session. */
  violation(message: string): void {
    this.resetSession(new ProtocolError(`${this.name}: ${message}`));
  }

  /** Put one frame on the wire; rejects (never throws) when not connected, over the frame limit, or the peer is not reading. */
  send(type: FrameType, id: number, payload?: Uint8Array): Promise<void> {
    const t = this.transportNow;
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

  // ---------------------------------------------------------------- internals

  private makeDecoder(): FrameDecoder {
    return new FrameDecoder(
      (f) => this.onFrame(f),
      (e) => this.resetSession(e),
      { maxFrameBytes: this.opts.maxFrameBytes ?? MAX_FRAME_BYTES, startInSync: true },
    );
  }

  private startHello(): void {
    this.nonce = crypto.randomUUID();
    const hello = encodeFrame(FrameType.HELLO, 0, encodeJson({ version: PROTOCOL_VERSION, nonce: this.nonce }));
    const t = this.transportNow!;
    const sendHello = () => void t.write(hello).catch(() => {});
    sendHello();
    this.helloTimer = setInterval(sendHello, this.opts.helloRetryMs ?? 1000);
  }

  private stopHello(): void {
    if (this.helloTimer) clearInterval(this.helloTimer);
    this.helloTimer = undefined;
  }

  private endSession(error: Error, notify = true): void {
    const t = this.transportNow;
    const wasOpen = this.open;
    this.transportNow = undefined;
    this.open = false;
    this.stopHello();
    this.decoder.reset();
    this.sinks.drop(error);
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
    this.sinks.drop(err);
    for (const l of [...this.sessionEndListeners]) safely(() => l(err));
  }

  private onFrame(f: Frame): void {
    if (f.type === FrameType.HELLO) return this.onHello(f);
    if (!this.open) {
      log.debug(`${this.name}: ignoring ${frameTypeName(f.type)} before the handshake`);
      return;
    }
    switch (f.type) {
      case FrameType.REQUEST:
        return this.sinks.request(f);
      case FrameType.RESPONSE:
      case FrameType.ERROR:
        return this.sinks.reply(f);
      case FrameType.EVENT:
        return this.sinks.event(f);
      case FrameType.CANCEL:
        return this.sinks.cancel(f.id);
      case FrameType.DATA:
      case FrameType.CREDIT:
      case FrameType.CLOSE:
      case FrameType.RESET:
        if (f.id !== 0) return this.sinks.stream(f);
        if (f.type === FrameType.RESET) return this.onPeerReset(f);
        return this.violation(`${frameTypeName(f.type)} on stream 0`);
    }
  }

  private onPeerReset(f: Frame): void {
    let message = "no reason given";
    try {
      message = v.parse(ResetBodySchema, decodeJson(f.payload)).message ?? message;
    } catch {
      // the reason is informational only
    }
    log.warn(`${this.name}: peer reset the channel: ${message}`);
    this.endSession(new ProtocolError(`${this.name}: peer reset the channel: ${message}`));
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
}
