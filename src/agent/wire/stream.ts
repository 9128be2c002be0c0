import { ProtocolError } from "../../host/errors.ts";
import { MAX_DATA_CHUNK } from "./frame.ts";

/** Default per-stream, per-direction credit window. */
export const DEFAULT_WINDOW_BYTES = 256 * 1024;

/** What a stream needs from its channel to put frames on the wire. */
export interface StreamSink {
  sendData(id: number, bytes: Uint8Array): Promise<void>;
  sendCredit(id: number, bytes: number): void;
  sendClose(id: number): void;
  sendReset(id: number): void;
  /** Both directions are finished: forget the id. */
  release(id: number): void;
}

export interface StreamDirections {
  /** We receive data on it (the peer writes). */
  read: boolean;
  /** We send data on it. */
  write: boolean;
}

export class StreamResetError extends ProtocolError {
  constructor(id: number, why: string) {
    super(`stream ${id} reset: ${why}`);
  }
}

/**
 * One flow-controlled data stream. Receiving: the peer may send at most the
 * credit we granted; we grant more only as our consumer reads, so at most
 * `window` bytes wait here. Sending: write() splits into chunks and waits for
 * the peer's credit, so a fast writer blocks instead of filling memory.
 */
export class DataStream {
  readonly readable: ReadableStream<Uint8Array> | undefined;
  readonly writable: WritableStream<Uint8Array> | undefined;

  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private recvAllowance: number; // bytes the peer may still send
  private toGrant = 0;
  private remoteClosed = false;
  private readWaiter: (() => void) | undefined;
  private readCtl: ReadableStreamDefaultController<Uint8Array> | undefined;
  private readDone: boolean;

  private sendCredit = 0;
  private creditWaiter: (() => void) | undefined;
  private writeDone: boolean;
  private writeCtl: WritableStreamDefaultController | undefined;

  private dead: Error | undefined;

  constructor(
    readonly id: number,
    directions: StreamDirections,
    private readonly sink: StreamSink,
    private readonly window = DEFAULT_WINDOW_BYTES,
  ) {
    this.recvAllowance = directions.read ? window : 0;
    this.readDone = !directions.read;
    this.writeDone = !directions.write;
    this.readable = directions.read ? this.makeReadable() : undefined;
    this.writable = directions.write ? this.makeWritable() : undefined;
    if (directions.read) sink.sendCredit(id, window);
  }

  get bufferedBytes(): number {
    return this.queuedBytes;
  }

  get availableCredit(): number {
    return this.sendCredit;
  }

  get finished(): boolean {
    return this.readDone && this.writeDone;
  }

  /** A DATA frame arrived. Returns an error message when the peer broke the rules. */
  onData(bytes: Uint8Array): string | undefined {
    if (this.dead) return undefined; // late frames after a reset are dropped
    if (!this.readable || this.remoteClosed) return "data on a stream the peer may not write";
    if (bytes.length > this.recvAllowance) {
      return `peer sent ${bytes.length} bytes with only ${this.recvAllowance} of credit`;
    }
    this.recvAllowance -= bytes.length;
    if (bytes.length === 0) return undefined;
    this.queue.push(bytes);
    this.queuedBytes += bytes.length;
    this.wakeReader();
    return undefined;
  }

  onCredit(bytes: number): string | undefined {
    if (this.dead) return undefined;
    if (!this.writable) return "credit on a stream we do not write";
    if (this.sendCredit + bytes > 0xffff_ffff) return "credit overflow";
    this.sendCredit += bytes;
    const w = this.creditWaiter;
    this.creditWaiter = undefined;
    w?.();
    return undefined;
  }

  onRemoteClose(): string | undefined {
    if (this.dead) return undefined;
    if (!this.readable || this.remoteClosed) return "close on a stream the peer may not write";
    this.remoteClosed = true;
    this.wakeReader();
    return undefined;
  }

  /** The peer reset the stream, the channel ended, or we reset it locally. */
  fail(error: Error, notifyPeer = false): void {
    if (this.dead) return;
    this.dead = error;
    if (notifyPeer) this.sink.sendReset(this.id);
    this.queue = [];
    this.queuedBytes = 0;
    if (!this.readDone && this.readCtl) {
      try {
        this.readCtl.error(error);
      } catch {
        // already closed by the consumer
      }
    }
    this.readDone = true;
    if (!this.writeDone && this.writeCtl) {
      // Error the writable now, so a pipe into it notices without writing first.
      this.writeCtl.error(error);
    }
    this.writeDone = true;
    this.wakeReader();
    const w = this.creditWaiter;
    this.creditWaiter = undefined;
    w?.();
    this.sink.release(this.id);
  }

  private wakeReader(): void {
    const w = this.readWaiter;
    this.readWaiter = undefined;
    w?.();
  }

  private maybeRelease(): void {
    if (this.finished && !this.dead) {
      this.dead = new StreamResetError(this.id, "finished");
      this.sink.release(this.id);
    }
  }

  private makeReadable(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>(
      {
        start: (ctl) => {
          this.readCtl = ctl;
        },
        pull: async (ctl) => {
          while (this.queue.length === 0 && !this.remoteClosed && !this.dead) {
            await new Promise<void>((r) => (this.readWaiter = r));
          }
          const chunk = this.queue.shift();
          if (chunk) {
            this.queuedBytes -= chunk.length;
            ctl.enqueue(chunk);
            this.grant(chunk.length);
            return;
          }
          if (this.dead && !this.readDone) {
            ctl.error(this.dead);
            return;
          }
          if (this.readDone) return;
          this.readDone = true;
          ctl.close();
          this.maybeRelease();
        },
        cancel: () => {
          if (this.readDone) return;
          this.readDone = true;
          this.queue = [];
          this.queuedBytes = 0;
          // The peer must stop writing: reset the stream (both directions).
          if (!this.remoteClosed) this.fail(new StreamResetError(this.id, "reader cancelled"), true);
          else this.maybeRelease();
        },
      },
      { highWaterMark: 0 },
    );
  }

  private grant(n: number): void {
    if (this.dead || this.remoteClosed) return;
    this.toGrant += n;
    const threshold = Math.max(1, Math.floor(this.window / 4));
    if (this.toGrant >= threshold || this.queue.length === 0) {
      this.recvAllowance += this.toGrant;
      this.sink.sendCredit(this.id, this.toGrant);
      this.toGrant = 0;
    }
  }

  private makeWritable(): WritableStream<Uint8Array> {
    return new WritableStream<Uint8Array>(
      {
        start: (ctl) => {
          this.writeCtl = ctl;
        },
        write: async (chunk) => {
          let off = 0;
          while (off < chunk.length) {
            while (this.sendCredit === 0 && !this.dead) {
              await new Promise<void>((r) => (this.creditWaiter = r));
            }
            if (this.dead) throw this.dead;
            const n = Math.min(this.sendCredit, MAX_DATA_CHUNK, chunk.length - off);
            this.sendCredit -= n;
            await this.sink.sendData(this.id, chunk.subarray(off, off + n));
            off += n;
          }
        },
        close: () => {
          if (this.dead) throw this.dead;
          this.writeDone = true;
          this.sink.sendClose(this.id);
          this.maybeRelease();
        },
        abort: () => {
          this.fail(new StreamResetError(this.id, "writer aborted"), true);
        },
      },
      { highWaterMark: 1 },
    );
  }
}
