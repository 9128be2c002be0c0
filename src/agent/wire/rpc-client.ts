import * as v from "valibot";
import { ProtocolError, TimeoutError } from "../../host/errors.ts";
import { AgentErrorSchema, MAX_FRAME_BYTES } from "../protocol.ts";
import { decodeJson, encodeJson, type Frame, FrameType, frameTypeName, HEADER_BYTES } from "./frame.ts";
import type { Session } from "./session.ts";
import type { MethodTable, Req, Res } from "./table.ts";
import {
  CancelledError,
  describeIssues,
  errMessage,
  toHuskError,
  type CallOptions,
  type ChannelOptions,
  type Pending,
} from "./channel-parts.ts";

type ClientOptions<R extends MethodTable> = Pick<
  ChannelOptions<R, MethodTable>,
  "remote" | "timeouts" | "defaultTimeoutMs" | "maxFrameBytes"
>;

/**
 * The calling side of a Channel: validates and sends requests, gives each an
 * id, a timeout and cancellation (CANCEL frame), and settles it from the
 * peer's RESPONSE or ERROR, validated against the remote method table.
 */
export class RpcClient<R extends MethodTable> {
  private nextRequestId = 0;
  private pending = new Map<number, Pending>();

  constructor(
    private readonly session: Session,
    private readonly opts: ClientOptions<R>,
  ) {}

  get pendingCount(): number {
    return this.pending.size;
  }

  async call<M extends keyof R & string>(method: M, request: Req<R, M>, options: CallOptions = {}): Promise<Res<R, M>> {
    const spec = this.opts.remote?.methods[method];
    if (!spec) throw new ProtocolError(`${this.session.name}: unknown method ${method}`);
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
        : setTimeout(
            () => ctl.abort(new TimeoutError(`${method} timed out after ${timeoutMs} ms`, { details: { method, timeoutMs } })),
            timeoutMs,
          );
    const onOuterAbort = () => ctl.abort(new CancelledError(method, options.signal?.reason));
    if (options.signal?.aborted) onOuterAbort();
    else options.signal?.addEventListener("abort", onOuterAbort, { once: true });
    try {
      await this.session.ready(ctl.signal);
      if (ctl.signal.aborted) throw ctl.signal.reason;
      const id = (this.nextRequestId = (this.nextRequestId + 1) >>> 0 || 1);
      const result = new Promise<unknown>((resolve, reject) => {
        this.pending.set(id, { method, resolve, reject });
        ctl.signal.addEventListener(
          "abort",
          () => {
            if (!this.pending.delete(id)) return;
            void this.session.send(FrameType.CANCEL, id).catch(() => {});
            reject(ctl.signal.reason);
          },
          { once: true },
        );
      });
      void this.session.send(FrameType.REQUEST, id, payload).catch((e) => {
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

  /** A RESPONSE or ERROR frame from the peer. */
  onReply(f: Frame): void {
    const p = this.pending.get(f.id);
    if (!p) {
      // A reply to a request we already gave up on (timeout, cancel) is normal; one we never sent is not.
      if (f.id !== 0 && f.id <= this.nextRequestId) return;
      return this.session.violation(`${frameTypeName(f.type)} for unknown request ${f.id}`);
    }
    this.pending.delete(f.id);
    let body: unknown;
    try {
      body = decodeJson(f.payload);
    } catch (e) {
      p.reject(new ProtocolError(`malformed reply to ${p.method}: ${errMessage(e)}`));
      return this.session.violation(`malformed ${frameTypeName(f.type)}: ${errMessage(e)}`);
    }
    if (f.type === FrameType.ERROR) {
      const err = v.safeParse(AgentErrorSchema, body);
      if (!err.success) {
        p.reject(new ProtocolError(`malformed error reply to ${p.method}`));
        return this.session.violation(`malformed ERROR: ${describeIssues(err.issues)}`);
      }
      p.reject(toHuskError(p.method, err.output.code, err.output.message));
      return;
    }
    const spec = this.opts.remote!.methods[p.method]!;
    const res = v.safeParse(spec.response, body);
    if (!res.success) {
      const e = new ProtocolError(`invalid ${p.method} response from ${this.session.name}: ${describeIssues(res.issues)}`, {
        details: { method: p.method },
      });
      p.reject(e);
      return this.session.resetSession(e);
    }
    p.resolve(res.output);
  }

  /** The session ended: every pending call fails with its error. */
  drop(error: Error): void {
    for (const [, p] of this.pending) p.reject(error);
    this.pending.clear();
  }

  private timeoutFor(method: string): number | null {
    const t = this.opts.timeouts?.[method];
    if (t !== undefined) return t;
    return this.opts.defaultTimeoutMs ?? 30_000;
  }
}
