import type { EventName, EventPayload, MethodName, MethodRequest, MethodResponse, Stdio } from "./protocol.ts";

/**
 * The agent driver: what the host (api, shim, monitor) uses to talk to a
 * guest agent. Implementations: the real client over the wire (./client.ts)
 * and the mock (./mock.ts) for unit tests of the layers above.
 */

export interface CallOptions {
  /** Default is per method (waitProcess has none). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Host-side ends of a process's stdio streams. */
export interface ProcessStreams {
  stdin?: WritableStream<Uint8Array>;
  stdout?: ReadableStream<Uint8Array>;
  stderr?: ReadableStream<Uint8Array>;
}

export interface StdioRequest {
  terminal: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  rows?: number;
  cols?: number;
}

export interface Agent {
  call<M extends MethodName>(method: M, request: MethodRequest<M>, options?: CallOptions): Promise<MethodResponse<M>>;
  /**
   * Allocate flow-controlled data streams for a process's stdio. Put `stdio`
   * into the createContainer/exec request; use `streams` on the host.
   */
  openStdio(want: StdioRequest): { stdio: Stdio; streams: ProcessStreams };
  on<E extends EventName>(event: E, handler: (payload: EventPayload<E>) => void): () => void;
  close(): Promise<void>;
}
