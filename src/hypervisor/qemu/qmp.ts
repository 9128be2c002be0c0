import { createConnection, type Socket } from "node:net";
import * as v from "valibot";
import { HypervisorError, ProtocolError, TimeoutError } from "../../host/errors.ts";
import { logger } from "../../host/log.ts";
import { withTimeout } from "../../host/time.ts";

/**
 * QMP client: the only module that talks to QEMU's monitor socket.
 * Line-delimited JSON; every line read is validated. A malformed or oversized
 * line means the peer is not the QEMU we started: the connection is dropped
 * and every pending command fails, rather than guessing.
 */

const log = logger("qmp");

/** QEMU's replies are small; a line this long is hostile or broken. */
export const MAX_QMP_LINE = 1024 * 1024;

const GreetingSchema = v.object({
  QMP: v.object({
    version: v.object({ qemu: v.object({ major: v.number(), minor: v.number(), micro: v.number() }) }),
    capabilities: v.array(v.string()),
  }),
});
const ReturnSchema = v.object({ return: v.unknown(), id: v.optional(v.string()) });
const ErrorSchema = v.object({
  error: v.object({ class: v.pipe(v.string(), v.maxLength(256)), desc: v.pipe(v.string(), v.maxLength(65536)) }),
  id: v.optional(v.string()),
});
const EventSchema = v.object({
  event: v.pipe(v.string(), v.maxLength(256)),
  data: v.optional(v.unknown()),
  timestamp: v.optional(v.object({ seconds: v.number(), microseconds: v.number() })),
});
const MessageSchema = v.union([ReturnSchema, ErrorSchema, EventSchema, GreetingSchema]);

export const StatusSchema = v.object({
  running: v.boolean(),
  status: v.string(),
  singlestep: v.optional(v.boolean()),
});
export type QmpStatus = v.InferOutput<typeof StatusSchema>;

export interface QmpEvent {
  event: string;
  data?: unknown;
}

export class QmpError extends HypervisorError {}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

export interface QmpConnectOptions {
  timeoutMs?: number;
}

export class QmpClient {
  private buf = "";
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Set<(e: QmpEvent) => void>();
  private greeting: ((err?: Error) => void) | undefined;
  private closedErr: Error | undefined;
  readonly closed: Promise<void>;
  private markClosed!: () => void;
  version: string | undefined;

  private constructor(private readonly socket: Socket) {
    this.closed = new Promise((r) => (this.markClosed = r));
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.onData(chunk));
    socket.on("error", (err) => this.fail(new HypervisorError(`qmp socket error: ${err.message}`, { cause: err })));
    socket.on("close", () => this.fail(new HypervisorError("qmp connection closed")));
  }

  /** Connect to a QMP socket, read the greeting and leave negotiation mode. */
  static async connect(path: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const s = createConnection({ path });
    const connected = new Promise<Socket>((resolve, reject) => {
      s.once("connect", () => resolve(s));
      s.once("error", (err) => reject(new HypervisorError(`cannot connect to qmp socket ${path}: ${err.message}`, { cause: err })));
    });
    const socket = await withTimeout(connected, timeoutMs, () => {
      s.destroy();
      return new TimeoutError(`qmp connect to ${path} timed out after ${timeoutMs} ms`);
    });
    const client = new QmpClient(socket);
    try {
      await client.waitGreeting(timeoutMs);
      await client.execute("qmp_capabilities", undefined, { timeoutMs });
    } catch (err) {
      client.close();
      throw err;
    }
    log.debug(`connected to ${path} (qemu ${client.version})`);
    return client;
  }

  private waitGreeting(timeoutMs: number): Promise<void> {
    const greeted = new Promise<void>((resolve, reject) => {
      this.greeting = (err) => {
        this.greeting = undefined;
        err ? reject(err) : resolve();
      };
      if (this.closedErr) this.greeting(this.closedErr);
    });
    return withTimeout(greeted, timeoutMs, () => {
      this.greeting = undefined;
      return new TimeoutError(`no qmp greeting within ${timeoutMs} ms`);
    });
  }

  /** Run one command; resolves with its "return" value, rejects with QmpError on an "error" reply. */
  execute(command: string, args?: Record<string, unknown>, options: { timeoutMs?: number } = {}): Promise<unknown> {
    if (this.closedErr) return Promise.reject(this.closedErr);
    const id = `husk-${this.nextId++}`;
    const timeoutMs = options.timeoutMs ?? 10_000;
    const reply = new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { command, resolve, reject });
      log.debug(`-> ${command}`);
      this.socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`);
    });
    // A reply after the time out finds no pending entry: logged and ignored (onLine).
    return withTimeout(reply, timeoutMs, () => {
      this.pending.delete(id);
      return new TimeoutError(`qmp ${command} timed out after ${timeoutMs} ms`);
    });
  }

  async queryStatus(options?: { timeoutMs?: number }): Promise<QmpStatus> {
    const ret = await this.execute("query-status", undefined, options);
    const parsed = v.safeParse(StatusSchema, ret);
    if (!parsed.success) throw new ProtocolError(`qmp query-status: unexpected reply ${JSON.stringify(ret).slice(0, 200)}`);
    return parsed.output;
  }

  onEvent(handler: (e: QmpEvent) => void): () => void {
    this.listeners.add(handler);
    return () => this.listeners.delete(handler);
  }

  close(): void {
    this.fail(new HypervisorError("qmp connection closed"));
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (line.length > MAX_QMP_LINE) return this.protocolError(`qmp line of ${line.length} bytes exceeds ${MAX_QMP_LINE}`);
      if (line) this.onLine(line);
      if (this.closedErr) return;
    }
    if (this.buf.length > MAX_QMP_LINE) this.protocolError(`qmp line exceeds ${MAX_QMP_LINE} bytes without newline`);
  }

  private onLine(line: string): void {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      return this.protocolError(`qmp sent invalid JSON: ${line.slice(0, 200)}`);
    }
    const parsed = v.safeParse(MessageSchema, json);
    if (!parsed.success) return this.protocolError(`qmp sent an unexpected message: ${line.slice(0, 200)}`);
    const msg = parsed.output;
    if ("QMP" in msg) {
      this.version = `${msg.QMP.version.qemu.major}.${msg.QMP.version.qemu.minor}.${msg.QMP.version.qemu.micro}`;
      this.greeting?.();
      return;
    }
    if ("event" in msg) {
      log.debug(`<- event ${msg.event}`);
      for (const l of this.listeners) {
        try {
          l({ event: msg.event, data: msg.data });
        } catch (err) {
          log.warn(`qmp event handler failed: ${String(err)}`);
        }
      }
      return;
    }
    const p = msg.id === undefined ? undefined : this.pending.get(msg.id);
    if (!p) {
      // A reply to nothing we asked (or one that timed out): note it, keep serving.
      log.warn(`qmp reply with unknown id ${JSON.stringify(msg.id)} ignored`);
      return;
    }
    this.pending.delete(msg.id!);
    if ("error" in msg) {
      p.reject(new QmpError(`qmp ${p.command} failed: ${msg.error.class}: ${msg.error.desc}`, { details: { class: msg.error.class } }));
    } else {
      p.resolve(msg.return);
    }
  }

  private protocolError(message: string): void {
    log.warn(message);
    this.fail(new ProtocolError(message));
  }

  private fail(err: Error): void {
    if (this.closedErr) return;
    this.closedErr = err;
    this.greeting?.(err);
    for (const [id, p] of this.pending) {
      p.reject(err);
      this.pending.delete(id);
    }
    this.socket.destroy();
    this.buf = "";
    this.markClosed();
  }
}
