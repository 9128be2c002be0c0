import type { Channel } from "./channel.ts";
import * as v from "valibot";
import { ERROR_CODES, type ErrorCode, HuskError } from "../../host/errors.ts";
import { logger } from "../../host/log.ts";
import type { EventTable, MethodTable } from "./table.ts";

const log = logger("agent-wire");

/** The channel's (./channel.ts) public types, the message bodies it validates, and small helpers. */

export interface RequestContext {
  method: string;
  /** Aborted when the caller cancels (CANCEL frame) or the session ends. */
  signal: AbortSignal;
  channel: Channel<MethodTable, MethodTable>;
}
export type RequestHandler = (method: string, request: unknown, ctx: RequestContext) => Promise<unknown>;

export interface ChannelOptions<R extends MethodTable, L extends MethodTable> {
  /** For logs. */
  name: string;
  /** The initiator sends HELLO and allocates odd stream ids; the responder answers and allocates even ones. */
  role: "initiator" | "responder";
  /** Methods the peer serves (we call them) and events the peer sends us. */
  remote?: { methods: R; events: EventTable };
  /** Methods we serve, events we may emit, and the handler for requests. */
  local?: { methods: L; events: EventTable; handler: RequestHandler };
  /** Per-method default timeout in ms; null = none. Methods not listed use defaultTimeoutMs. */
  timeouts?: Partial<Record<string, number | null>>;
  defaultTimeoutMs?: number;
  windowBytes?: number;
  maxFrameBytes?: number;
  /** Initiator: resend HELLO this often until answered (the guest may not be reading yet). */
  helloRetryMs?: number;
  /** Requests we serve at once; more get an E_AGENT "busy" error. */
  maxInflight?: number;
  /** Bytes queued to a peer that does not read before the session is reset. */
  maxPendingWriteBytes?: number;
}

export interface CallOptions {
  timeoutMs?: number | null;
  signal?: AbortSignal;
}

export interface Pending {
  method: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

export const HelloSchema = v.strictObject({
  version: v.pipe(v.number(), v.integer(), v.minValue(0)),
  nonce: v.pipe(v.string(), v.maxLength(64)),
});
export const RequestBodySchema = v.strictObject({ method: v.pipe(v.string(), v.maxLength(128)), params: v.unknown() });
export const EventBodySchema = v.strictObject({ event: v.pipe(v.string(), v.maxLength(128)), payload: v.unknown() });
export const ResetBodySchema = v.object({ message: v.optional(v.pipe(v.string(), v.maxLength(4096))) });

export const MAX_PENDING_CREDIT_STREAMS = 1024;
export const PENDING_CREDIT_TTL_MS = 60_000;

/** Thrown to callers whose request was cancelled through their AbortSignal. */
export class CancelledError extends HuskError {
  constructor(method: string, reason: unknown) {
    super("E_AGENT", `${method} cancelled${reason instanceof Error ? `: ${reason.message}` : ""}`, { cause: reason });
    this.name = "CancelledError";
  }
}

export { describeIssues } from "../../host/valid.ts";

export function toHuskError(method: string, code: string, message: string): HuskError {
  const known = (ERROR_CODES as readonly string[]).includes(code) ? (code as ErrorCode) : "E_AGENT";
  return new HuskError(known, message, { details: { method, code } });
}

export function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function safely(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    log.warn(`listener failed: ${errMessage(e)}`);
  }
}
