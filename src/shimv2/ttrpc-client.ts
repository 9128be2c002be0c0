import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Socket } from "bun";
import { ProtocolError, TimeoutError } from "../host/errors.ts";
import { withTimeout } from "../host/time.ts";
import { RequestSchema, ResponseSchema } from "./gen/ttrpc/ttrpc_pb.ts";
import { Code, encodeFrame, FRAME_REQUEST, FRAME_RESPONSE, FrameDecoder, type Frame, Writer } from "./ttrpc-frame.ts";

/** The ttrpc client (see ./ttrpc.ts): unary calls, as the shim publishes its events. */

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
    const req = toBinary(RequestSchema, create(RequestSchema, { service, method, payload, timeoutNano: BigInt(timeoutMs) * 1_000_000n }));
    const reply = new Promise<Uint8Array>((resolve, reject) => {
      this.pending.set(streamId, { resolve, reject });
      try {
        this.writer.write(encodeFrame({ streamId, type: FRAME_REQUEST, flags: 0, payload: req }));
      } catch (e) {
        this.pending.get(streamId)?.reject(e as Error);
        this.pending.delete(streamId);
      }
    });
    return withTimeout(reply, timeoutMs, () => {
      this.pending.delete(streamId);
      return new TimeoutError(`ttrpc ${service}/${method} did not answer within ${timeoutMs} ms`);
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
      let resp: ReturnType<typeof fromBinary<typeof ResponseSchema>>;
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
