import { chmodSync, rmSync } from "node:fs";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Socket } from "bun";
import { HuskError, ProtocolError, TimeoutError } from "../errors.ts";
import { logger } from "../log.ts";
import { RequestSchema, ResponseSchema, type Request } from "./gen/ttrpc/ttrpc_pb.ts";
import { StatusSchema } from "./gen/google/rpc/status_pb.ts";

/**
 * ttrpc, containerd's small RPC protocol over a unix socket: frames with a
 * 10-byte header (u32 BE payload length, u32 BE stream id, u8 type, u8
 * flags), a protobuf `ttrpc.Request` on a client stream (odd ids) answered by
 * a `ttrpc.Response` on the same id. Errors travel as google.rpc.Status with
 * gRPC codes. Only unary calls: streaming (data frames) is neither offered
 * nor accepted.
 *
 * Everything from the peer is bounded: a frame over 4 MiB, an unknown frame
 * type, a payload that is not a Request, or more than MAX_INFLIGHT calls at
 * once closes the connection before anything more is buffered.
 */

const log = logger("ttrpc");

export const HEADER_BYTES = 10;
/** ttrpc's own limit (messageLengthMax). */
export const MAX_FRAME_BYTES = 4 << 20;
/** Calls one connection may have in progress; containerd makes a few. */
export const MAX_INFLIGHT = 64;
/** Bytes queued for a peer that does not read before it is dropped. */
const MAX_QUEUED_WRITE = 16 << 20;

export const FRAME_REQUEST = 1;
export const FRAME_RESPONSE = 2;
export const FRAME_DATA = 3;

/** gRPC status codes used here. */
export const Code = {
  OK: 0,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  FailedPrecondition: 9,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
} as const;

export interface Frame {
  streamId: number;
  type: number;
  flags: number;
  payload: Uint8Array;
}

export function encodeFrame(f: Frame): Uint8Array {
  if (f.payload.length > MAX_FRAME_BYTES) {
    throw new ProtocolError(`ttrpc message of ${f.payload.length} bytes is over the ${MAX_FRAME_BYTES}-byte limit`, {
      details: { bytes: f.payload.length, limit: MAX_FRAME_BYTES },
    });
  }
  const out = new Uint8Array(HEADER_BYTES + f.payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, f.payload.length);
  dv.setUint32(4, f.streamId >>> 0);
  out[8] = f.type;
  out[9] = f.flags;
  out.set(f.payload, HEADER_BYTES);
  return out;
}

/**
 * Splits a byte stream into frames. A header announcing more than
 * MAX_FRAME_BYTES throws at once (nothing of it is buffered); so does a frame
 * type outside 1..3. Buffered bytes never exceed one header plus one frame.
 */
export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  private buffered = 0;

  push(data: Uint8Array): Frame[] {
    if (data.length > 0) {
      this.chunks.push(data);
      this.buffered += data.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (this.buffered < HEADER_BYTES) break;
      const head = this.peek(HEADER_BYTES);
      const dv = new DataView(head.buffer, head.byteOffset, HEADER_BYTES);
      const length = dv.getUint32(0);
      const type = head[8]!;
      if (length > MAX_FRAME_BYTES) {
        throw new ProtocolError(`ttrpc frame of ${length} bytes is over the ${MAX_FRAME_BYTES}-byte limit`, {
          details: { bytes: length, limit: MAX_FRAME_BYTES },
        });
      }
      if (type < FRAME_REQUEST || type > FRAME_DATA) throw new ProtocolError(`unknown ttrpc frame type ${type}`, { details: { type } });
      if (this.buffered < HEADER_BYTES + length) break;
      const whole = this.take(HEADER_BYTES + length);
      frames.push({ streamId: dv.getUint32(4), type, flags: head[9]!, payload: whole.subarray(HEADER_BYTES) });
    }
    return frames;
  }

  /** Bytes of an unfinished frame (a peer that stops mid-frame leaves some). */
  get pending(): number {
    return this.buffered;
  }

  private peek(n: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    this.coalesce();
    return this.chunks[0]!.subarray(0, n);
  }

  private take(n: number): Uint8Array {
    this.coalesce();
    const all = this.chunks[0]!;
    const out = all.slice(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered -= n;
    return out;
  }

  private coalesce(): void {
    if (this.chunks.length <= 1) return;
    const all = new Uint8Array(this.buffered);
    let off = 0;
    for (const c of this.chunks) {
      all.set(c, off);
      off += c.length;
    }
    this.chunks = [all];
  }
}

/** An error a handler throws to answer with a particular gRPC status. */
export class RpcStatus extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = "RpcStatus";
  }
}

/** husk's error codes as the gRPC codes containerd's errdefs understand. */
export function grpcCodeOf(e: unknown): number {
  if (e instanceof RpcStatus) return e.code;
  if (!(e instanceof HuskError)) return Code.Unknown;
  switch (e.code) {
    case "E_NOT_FOUND":
      return Code.NotFound;
    case "E_ALREADY_EXISTS":
      return Code.AlreadyExists;
    case "E_INVALID_STATE":
      return Code.FailedPrecondition;
    case "E_INVALID_ID":
    case "E_INVALID_SPEC":
    case "E_BUNDLE":
    case "E_USAGE":
      return Code.InvalidArgument;
    case "E_UNSUPPORTED":
      return Code.Unimplemented;
    case "E_TIMEOUT":
    case "E_BOOT_TIMEOUT":
      return Code.DeadlineExceeded;
    default:
      return Code.Unknown;
  }
}

/** A connection writer that queues what the kernel does not take yet, bounded. */
class Writer {
  private queue: Uint8Array[] = [];
  private queued = 0;

  constructor(
    private readonly socket: Socket<unknown>,
    private readonly onOverflow: () => void,
  ) {}

  write(data: Uint8Array): void {
    if (this.queue.length > 0) {
      this.enqueue(data);
      return;
    }
    const n = this.socket.write(data);
    if (n < data.length) this.enqueue(data.subarray(Math.max(n, 0)));
  }

  drain(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const n = this.socket.write(head);
      if (n <= 0) return;
      this.queued -= n;
      if (n < head.length) {
        this.queue[0] = head.subarray(n);
        return;
      }
      this.queue.shift();
    }
  }

  private enqueue(data: Uint8Array): void {
    this.queue.push(data);
    this.queued += data.length;
    if (this.queued > MAX_QUEUED_WRITE) this.onOverflow();
  }
}

export type Handler = (payload: Uint8Array, request: Request) => Promise<Uint8Array>;

export interface TtrpcServer {
  path: string;
  /** Stop listening and drop every connection. */
  close(): void;
  /** Connections open now. */
  readonly connections: number;
}

interface ServerConn {
  decoder: FrameDecoder;
  writer: Writer;
  inflight: number;
  closed: boolean;
}

/**
 * Serve `handlers` ("service/method" → handler) on a unix socket at `path`
 * (mode 0600, any stale file replaced). Each request frame runs its handler;
 * its answer (or the handler's error as a status) goes back on its stream.
 */
export function serveTtrpc(path: string, handlers: Map<string, Handler>): TtrpcServer {
  rmSync(path, { force: true });
  let open = 0;
  const conns = new WeakMap<object, ServerConn>();
  const drop = (socket: Socket<unknown>, st: ServerConn, why: string) => {
    if (st.closed) return;
    st.closed = true;
    log.warn(`dropping ttrpc connection: ${why}`);
    socket.terminate();
  };
  const server = Bun.listen<undefined>({
    unix: path,
    socket: {
      open(socket) {
        open++;
        const st: ServerConn = { decoder: new FrameDecoder(), writer: undefined as unknown as Writer, inflight: 0, closed: false };
        st.writer = new Writer(socket, () => drop(socket, st, "peer does not read its responses"));
        conns.set(socket, st);
      },
      data(socket, data) {
        const st = conns.get(socket);
        if (!st || st.closed) return;
        let frames: Frame[];
        try {
          frames = st.decoder.push(new Uint8Array(data));
        } catch (e) {
          drop(socket, st, (e as Error).message);
          return;
        }
        for (const f of frames) {
          if (f.type !== FRAME_REQUEST) {
            drop(socket, st, `unexpected ttrpc frame type ${f.type} from a client`);
            return;
          }
          if (st.inflight >= MAX_INFLIGHT) {
            drop(socket, st, `more than ${MAX_INFLIGHT} calls in progress`);
            return;
          }
          let req: Request;
          try {
            req = fromBinary(RequestSchema, f.payload);
          } catch (e) {
            drop(socket, st, `malformed ttrpc request: ${(e as Error).message}`);
            return;
          }
          st.inflight++;
          void answer(handlers, req).then((resp) => {
            st.inflight--;
            if (st.closed) return;
            try {
              st.writer.write(encodeFrame({ streamId: f.streamId, type: FRAME_RESPONSE, flags: 0, payload: resp }));
            } catch (e) {
              drop(socket, st, (e as Error).message);
            }
          });
        }
      },
      drain(socket) {
        conns.get(socket)?.writer.drain();
      },
      close(socket) {
        open--;
        const st = conns.get(socket);
        if (st) st.closed = true;
      },
      error(socket, err) {
        log.debug("ttrpc connection error", err);
        const st = conns.get(socket);
        if (st) st.closed = true;
      },
    },
  });
  chmodSync(path, 0o600);
  return {
    path,
    close() {
      server.stop(true);
      rmSync(path, { force: true });
    },
    get connections() {
      return open;
    },
  };
}

async function answer(handlers: Map<string, Handler>, req: Request): Promise<Uint8Array> {
  const key = `${req.service}/${req.method}`;
  const handler = handlers.get(key);
  if (!handler) return statusResponse(Code.Unimplemented, `${key} is not implemented`);
  try {
    const payload = await handler(req.payload, req);
    if (payload.length > MAX_FRAME_BYTES - 64) return statusResponse(Code.Internal, `${key}: response over the ttrpc size limit`);
    return toBinary(ResponseSchema, create(ResponseSchema, { payload }));
  } catch (e) {
    const code = grpcCodeOf(e);
    log.debug(`${key} failed (${code})`, e);
    return statusResponse(code, (e as Error).message ?? String(e));
  }
}

function statusResponse(code: number, message: string): Uint8Array {
  // A message is for people: keep it well inside the frame.
  const text = message.length > 4096 ? `${message.slice(0, 4096)}…` : message;
  return toBinary(ResponseSchema, create(ResponseSchema, { status: create(StatusSchema, { code, message: text }) }));
}

/** Strip containerd's `unix://` scheme from a socket address. */
export function socketPathOf(address: string): string {
  return address.startsWith("unix://") ? address.slice("unix://".length) : address;
}

/** A call that came back with a non-OK status. */
export class TtrpcCallError extends ProtocolError {
  constructor(
    readonly grpcCode: number,
    message: string,
  ) {
    super(message, { details: { grpcCode } });
  }
}

/** A ttrpc client for unary calls (the shim publishes its events with it). */
export class TtrpcClient {
  private nextStream = 1;
  private readonly pending = new Map<number, { resolve: (p: Uint8Array) => void; reject: (e: Error) => void }>();
  private readonly decoder = new FrameDecoder();
  private closed = false;
  private writer!: Writer;

  private constructor(private socket: Socket<undefined> | undefined) {}

  static async connect(address: string): Promise<TtrpcClient> {
    const client = new TtrpcClient(undefined);
    const socket = await Bun.connect<undefined>({
      unix: socketPathOf(address),
      socket: {
        data: (_s, data) => client.onData(new Uint8Array(data)),
        drain: () => client.writer.drain(),
        close: () => client.fail(new ProtocolError("ttrpc connection closed")),
        error: (_s, err) => client.fail(new ProtocolError(`ttrpc connection error: ${err.message}`, { cause: err })),
      },
    });
    client.socket = socket;
    client.writer = new Writer(socket, () => client.fail(new ProtocolError("ttrpc peer does not read")));
    return client;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  call(service: string, method: string, payload: Uint8Array, timeoutMs = 10_000): Promise<Uint8Array> {
    if (this.closed || !this.socket) return Promise.reject(new ProtocolError("ttrpc connection closed"));
    const streamId = this.nextStream;
    this.nextStream += 2;
    const req = toBinary(
      RequestSchema,
      create(RequestSchema, { service, method, payload, timeoutNano: BigInt(timeoutMs) * 1_000_000n }),
    );
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(streamId);
        reject(new TimeoutError(`ttrpc ${service}/${method} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(streamId, {
        resolve: (p) => {
          clearTimeout(timer);
          resolve(p);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      try {
        this.writer.write(encodeFrame({ streamId, type: FRAME_REQUEST, flags: 0, payload: req }));
      } catch (e) {
        this.pending.get(streamId)?.reject(e as Error);
        this.pending.delete(streamId);
      }
    });
  }

  close(): void {
    this.fail(new ProtocolError("ttrpc client closed"));
  }

  private onData(data: Uint8Array): void {
    let frames: Frame[];
    try {
      frames = this.decoder.push(data);
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    for (const f of frames) {
      const p = this.pending.get(f.streamId);
      if (f.type !== FRAME_RESPONSE || !p) {
        this.fail(new ProtocolError(`unexpected ttrpc frame (type ${f.type}, stream ${f.streamId})`));
        return;
      }
      this.pending.delete(f.streamId);
      let resp;
      try {
        resp = fromBinary(ResponseSchema, f.payload);
      } catch (e) {
        p.reject(new ProtocolError(`malformed ttrpc response: ${(e as Error).message}`));
        continue;
      }
      if (resp.status && resp.status.code !== Code.OK) p.reject(new TtrpcCallError(resp.status.code, resp.status.message));
      else p.resolve(resp.payload);
    }
  }

  private fail(e: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.socket?.terminate();
  }
}
