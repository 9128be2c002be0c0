import { create, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { anyPack, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { logger } from "../host/log.ts";
import { EnvelopeSchema, ForwardRequestSchema } from "./gen/containerd/services/events/v1/events_pb.ts";
import { TtrpcClient } from "./ttrpc.ts";

/**
 * Task events to containerd: `containerd.services.events.ttrpc.v1.Events/Forward`
 * on containerd's ttrpc socket (TTRPC_ADDRESS), one at a time and in order
 * (create → start → exit → delete). The event's type_url is its bare full
 * name (`containerd.events.TaskExit`): containerd's typeurl registry knows
 * the events by that name, and with a `type.googleapis.com/` prefix
 * `ctr events` cannot decode them.
 */

const log = logger("shimv2");
const SERVICE = "containerd.services.events.ttrpc.v1.Events";
/** Events waiting for containerd; beyond this new ones are dropped (with a warning). */
const MAX_QUEUED = 1024;
/** How long an event is retried while containerd's ttrpc socket does not answer (a restart). */
const GIVE_UP_MS = 120_000;

export const TOPICS = {
  "containerd.events.TaskCreate": "/tasks/create",
  "containerd.events.TaskStart": "/tasks/start",
  "containerd.events.TaskExit": "/tasks/exit",
  "containerd.events.TaskDelete": "/tasks/delete",
  "containerd.events.TaskExecAdded": "/tasks/exec-added",
  "containerd.events.TaskExecStarted": "/tasks/exec-started",
  "containerd.events.TaskPaused": "/tasks/paused",
  "containerd.events.TaskResumed": "/tasks/resumed",
  "containerd.events.TaskOOM": "/tasks/oom",
} as const;

export interface EventSink {
  publish<D extends DescMessage>(schema: D, event: MessageShape<D>): Promise<void>;
}

/** The envelope bytes of one event (exported for tests). */
export function encodeForward<D extends DescMessage>(namespace: string, schema: D, event: MessageShape<D>, at = new Date()): Uint8Array {
  const typeName = schema.typeName as keyof typeof TOPICS;
  const topic = TOPICS[typeName];
  if (!topic) throw new Error(`no topic for event ${schema.typeName}`);
  const any = anyPack(schema, event);
  // anyPack writes type.googleapis.com/<name>; containerd wants the bare name.
  any.typeUrl = schema.typeName;
  const envelope = create(EnvelopeSchema, { timestamp: timestampFromDate(at), namespace, topic, event: any });
  return toBinary(ForwardRequestSchema, create(ForwardRequestSchema, { envelope }));
}

export class Publisher implements EventSink {
  private client: TtrpcClient | undefined;
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;

  constructor(
    private readonly address: string,
    private readonly namespace: string,
  ) {}

  /** Resolves once containerd has the event (or it was given up on: events never fail a task call). */
  publish<D extends DescMessage>(schema: D, event: MessageShape<D>): Promise<void> {
    const payload = encodeForward(this.namespace, schema, event);
    if (this.queued >= MAX_QUEUED) {
      log.warn(`dropping event ${schema.typeName}: ${MAX_QUEUED} events wait for containerd`);
      return Promise.resolve();
    }
    this.queued++;
    const next = this.chain.then(() => this.send(schema.typeName, payload)).finally(() => this.queued--);
    this.chain = next;
    return next;
  }

  close(): void {
    this.client?.close();
    this.client = undefined;
  }

  private async send(name: string, payload: Uint8Array): Promise<void> {
    // containerd may be restarting: keep trying (in order) for a while, then give the event up.
    const deadline = Date.now() + GIVE_UP_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        if (!this.client || this.client.isClosed) this.client = await TtrpcClient.connect(this.address);
        await this.client.call(SERVICE, "Forward", payload, 5000);
        log.debug(`published ${name}`);
        return;
      } catch (e) {
        log.debug(`publishing ${name} (attempt ${attempt}) failed: ${(e as Error).message}`);
        this.client?.close();
        this.client = undefined;
        if (Date.now() >= deadline) break;
        await Bun.sleep(Math.min(200 * attempt, 2000));
      }
    }
    log.warn(`could not publish ${name} to containerd at ${this.address} within ${GIVE_UP_MS / 1000} s: dropped`);
  }
}
