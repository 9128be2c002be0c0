import { chmodSync, rmSync } from "node:fs";
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import type { Socket } from "bun";
import { HuskError } from "../host/errors.ts";
import { logger } from "../host/log.ts";
import { RequestSchema, ResponseSchema, type Request } from "./gen/ttrpc/ttrpc_pb.ts";
import { StatusSchema } from "./gen/google/rpc/status_pb.ts";
import {
  Code,
  encodeFrame,
  type Frame,
  FRAME_REQUEST,
  FRAME_RESPONSE,
  FrameDecoder,
  MAX_FRAME_BYTES,
  MAX_INFLIGHT,
  Writer,
} from "./ttrpc-frame.ts";

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

export * from "./ttrpc-frame.ts";
export * from "./ttrpc-client.ts";

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

export type Handler = (payload: Uint8Array, request: Request) => Promise<Uint8Array>;

/** A Handler from a typed unary method: a payload that is not the input message is InvalidArgument. */
export function unaryHandler<I extends DescMessage, O extends DescMessage>(
  input: I,
  output: O,
  fn: (req: MessageShape<I>) => Promise<MessageShape<O>>,
): Handler {
  return async (payload) => {
    let req: MessageShape<I>;
    try {
      req = fromBinary(input, payload);
    } catch (e) {
      throw new RpcStatus(Code.InvalidArgument, `malformed ${input.typeName}: ${(e as Error).message}`);
    }
    return toBinary(output, await fn(req));
  };
}

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
