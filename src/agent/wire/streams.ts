import { ProtocolError } from "../../host/errors.ts";
import { logger } from "../../host/log.ts";
import { decodeCredit, encodeCredit, type Frame, FrameType } from "./frame.ts";
import type { Session } from "./session.ts";
import { DataStream, type StreamDirections, StreamResetError } from "./stream.ts";
import { MAX_PENDING_CREDIT_STREAMS, PENDING_CREDIT_TTL_MS } from "./channel-parts.ts";

const log = logger("agent-wire");

/**
 * The data streams of a Channel: id allocation (the initiator odd, the
 * responder even), attaching to ids the peer allocated, routing DATA /
 * CREDIT / CLOSE / RESET frames to them, and credit that arrives before its
 * stream is attached (bounded in count and age).
 */
export class StreamTable {
  private streams = new Map<number, DataStream>();
  private nextStreamId: number;
  private pendingCredit = new Map<number, { bytes: number; at: number }>();

  constructor(
    private readonly session: Session,
    private readonly window: number,
  ) {
    this.nextStreamId = session.role === "initiator" ? 1 : 2;
  }

  get count(): number {
    return this.streams.size;
  }

  open(directions: StreamDirections): DataStream {
    const id = this.nextStreamId;
    this.nextStreamId = (this.nextStreamId + 2) >>> 0;
    return this.add(id, directions);
  }

  attach(id: number, directions: StreamDirections): DataStream {
    const name = this.session.name;
    const peerParity = this.session.role === "initiator" ? 0 : 1;
    if (id === 0 || id % 2 !== peerParity) throw new ProtocolError(`${name}: stream id ${id} was not allocated by the peer`);
    if (this.streams.has(id)) throw new ProtocolError(`${name}: stream ${id} is already attached`);
    const stream = this.add(id, directions);
    const credit = this.pendingCredit.get(id);
    if (credit) {
      this.pendingCredit.delete(id);
      stream.onCredit(credit.bytes);
    }
    return stream;
  }

  /** A DATA, CREDIT, CLOSE or RESET frame for stream f.id (≠ 0). */
  onFrame(f: Frame): void {
    const s = this.streams.get(f.id);
    if (!s) {
      if (f.type === FrameType.CREDIT) return this.stashCredit(f);
      if (f.type === FrameType.DATA) void this.session.send(FrameType.RESET, f.id).catch(() => {});
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
      log.warn(`${this.session.name}: stream ${f.id}: ${problem}; resetting the stream`);
      s.fail(new StreamResetError(f.id, problem), true);
    }
  }

  /** The session ended: every stream fails, stashed credit is forgotten. */
  drop(error: Error): void {
    for (const s of [...this.streams.values()]) s.fail(new StreamResetError(s.id, error.message));
    this.streams.clear();
    this.pendingCredit.clear();
  }

  private stashCredit(f: Frame): void {
    const n = decodeCredit(f.payload);
    if (n === null) return this.session.violation("malformed CREDIT");
    const now = Date.now();
    if (this.pendingCredit.size >= MAX_PENDING_CREDIT_STREAMS) {
      for (const [id, c] of this.pendingCredit) if (now - c.at > PENDING_CREDIT_TTL_MS) this.pendingCredit.delete(id);
      if (this.pendingCredit.size >= MAX_PENDING_CREDIT_STREAMS) return this.session.violation("credit for too many unknown streams");
    }
    const prev = this.pendingCredit.get(f.id);
    this.pendingCredit.set(f.id, { bytes: Math.min(0xffff_ffff, (prev?.bytes ?? 0) + n), at: now });
  }

  private add(id: number, directions: StreamDirections): DataStream {
    const session = this.session;
    const stream = new DataStream(
      id,
      directions,
      {
        sendData: (sid, bytes) => session.send(FrameType.DATA, sid, bytes),
        sendCredit: (sid, bytes) => void session.send(FrameType.CREDIT, sid, encodeCredit(bytes)).catch(() => {}),
        sendClose: (sid) => void session.send(FrameType.CLOSE, sid).catch(() => {}),
        sendReset: (sid) => void session.send(FrameType.RESET, sid).catch(() => {}),
        release: (sid) => {
          if (this.streams.get(sid) === stream) this.streams.delete(sid);
        },
      },
      this.window,
    );
    this.streams.set(id, stream);
    if (!session.isOpen) stream.fail(new StreamResetError(id, `${session.name}: not connected`));
    return stream;
  }
}
