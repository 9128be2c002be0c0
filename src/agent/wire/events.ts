import * as v from "valibot";
import { ProtocolError } from "../../host/errors.ts";
import { logger } from "../../host/log.ts";
import { decodeJson, encodeJson, type Frame, FrameType } from "./frame.ts";
import type { Session } from "./session.ts";
import type { EventTable } from "./table.ts";
import { describeIssues, errMessage, EventBodySchema, safely } from "./channel-parts.ts";

const log = logger("agent-wire");

/**
 * Events of a Channel: emit() validates against the local event table and
 * sends an EVENT frame; incoming EVENTs are validated against the remote
 * table and fanned out to listeners (an unknown or invalid one resets the session).
 */
export class EventHub {
  private listeners = new Map<string, Set<(payload: unknown) => void>>();
  private anyListeners = new Set<(event: string, payload: unknown) => void>();

  constructor(
    private readonly session: Session,
    private readonly local: EventTable | undefined,
    private readonly remote: EventTable | undefined,
  ) {}

  on(event: string, handler: (payload: unknown) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(handler);
    return () => set!.delete(handler);
  }

  onAny(handler: (event: string, payload: unknown) => void): () => void {
    this.anyListeners.add(handler);
    return () => this.anyListeners.delete(handler);
  }

  emit(event: string, payload: unknown): void {
    const schema = this.local?.[event];
    if (!schema) throw new ProtocolError(`${this.session.name}: unknown event ${event}`);
    const checked = v.safeParse(schema, payload);
    if (!checked.success) throw new ProtocolError(`invalid ${event} event: ${describeIssues(checked.issues)}`);
    if (!this.session.isOpen) {
      log.debug(`${this.session.name}: not connected, dropping ${event} event`);
      return;
    }
    void this.session.send(FrameType.EVENT, 0, encodeJson({ event, payload: checked.output })).catch(() => {});
  }

  onEvent(f: Frame): void {
    let body: v.InferOutput<typeof EventBodySchema>;
    try {
      body = v.parse(EventBodySchema, decodeJson(f.payload));
    } catch (e) {
      return this.session.violation(`malformed EVENT: ${errMessage(e)}`);
    }
    const events = this.remote;
    const schema = events && Object.hasOwn(events, body.event) ? events[body.event] : undefined;
    if (!schema) return this.session.violation(`unknown event ${body.event}`);
    const payload = v.safeParse(schema, body.payload);
    if (!payload.success) return this.session.violation(`invalid ${body.event} event: ${describeIssues(payload.issues)}`);
    for (const h of [...(this.listeners.get(body.event) ?? [])]) safely(() => h(payload.output));
    for (const h of [...this.anyListeners]) safely(() => h(body.event, payload.output));
  }
}
