import * as v from "valibot";
import { ProtocolError, isHuskError } from "../../host/errors.ts";
import { logger } from "../../host/log.ts";
import type { Channel } from "./channel.ts";
import { decodeJson, encodeJson, type Frame, FrameType } from "./frame.ts";
import type { Session } from "./session.ts";
import type { MethodTable } from "./table.ts";
import {
  CancelledError,
  describeIssues,
  errMessage,
  RequestBodySchema,
  type ChannelOptions,
  type RequestContext,
} from "./channel-parts.ts";

const log = logger("agent-wire");

/**
 * The serving side of a Channel: validates each incoming REQUEST against the
 * local method table, runs the handler with an AbortSignal (CANCEL frame or
 * session end), validates its result and answers RESPONSE or ERROR, at most
 * maxInflight at once.
 */
export class RpcServer<L extends MethodTable> {
  private inflight = new Map<number, AbortController>();

  constructor(
    private readonly session: Session,
    private readonly local: ChannelOptions<MethodTable, L>["local"],
    private readonly maxInflight: number,
    /** Handed to handlers in their RequestContext. */
    private readonly channel: Channel,
  ) {}

  onRequest(f: Frame): void {
    let body: v.InferOutput<typeof RequestBodySchema>;
    try {
      body = v.parse(RequestBodySchema, decodeJson(f.payload));
    } catch (e) {
      return this.session.violation(`malformed REQUEST: ${errMessage(e)}`);
    }
    if (this.inflight.has(f.id)) return this.session.violation(`duplicate request id ${f.id}`);
    const reply = (code: string, message: string) =>
      void this.session.send(FrameType.ERROR, f.id, encodeJson({ code, message: message.slice(0, 4000) })).catch(() => {});
    const local = this.local;
    const spec = local?.methods[body.method];
    if (!local || !spec || !Object.hasOwn(local.methods, body.method)) {
      return reply("E_UNSUPPORTED", `unknown method ${body.method}`);
    }
    if (this.inflight.size >= this.maxInflight) return reply("E_AGENT", "too many requests in flight");
    const params = v.safeParse(spec.request, body.params);
    if (!params.success) return reply("E_PROTOCOL", `invalid ${body.method} request: ${describeIssues(params.issues)}`);
    const ctl = new AbortController();
    this.inflight.set(f.id, ctl);
    const transport = this.session.transport;
    const ctx: RequestContext = { method: body.method, signal: ctl.signal, channel: this.channel };
    void (async () => {
      try {
        const result = await local.handler(body.method, params.output, ctx);
        const out = v.safeParse(spec.response, result);
        if (!out.success) throw new ProtocolError(`handler returned an invalid ${body.method} response: ${describeIssues(out.issues)}`);
        if (this.inflight.get(f.id) === ctl && this.session.transport === transport) {
          await this.session.send(FrameType.RESPONSE, f.id, encodeJson(out.output));
        }
      } catch (e) {
        if (this.inflight.get(f.id) === ctl && this.session.transport === transport && !ctl.signal.aborted) {
          const code = isHuskError(e) ? e.code : "E_AGENT";
          reply(code, errMessage(e));
        }
        log.debug(`${this.session.name}: ${body.method} failed: ${errMessage(e)}`);
      } finally {
        if (this.inflight.get(f.id) === ctl) this.inflight.delete(f.id);
      }
    })();
  }

  /** The peer gave up on request `id`: abort its handler's signal. */
  onCancel(id: number): void {
    this.inflight.get(id)?.abort(new CancelledError("request", undefined));
  }

  /** The session ended: abort every running handler. */
  drop(error: Error): void {
    for (const [, c] of this.inflight) c.abort(error);
    this.inflight.clear();
  }
}
