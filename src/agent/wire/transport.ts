/**
 * A byte channel under the framing layer: a unix socket (QEMU's chardev for
 * the virtio-serial port, or the monitor's socket), the guest's virtio-serial
 * device, or an in-memory pair in tests. One Transport is one session: when
 * it closes, the channel's calls and streams end; reconnecting means a new
 * Transport and a new handshake.
 */
export interface TransportHandlers {
  data(chunk: Uint8Array): void;
  /** The peer went away or the transport failed; called once. */
  close(error?: Error): void;
}

export interface Transport {
  /** For logs: "unix:/path", "vport1p1"... */
  readonly label: string;
  /** Bytes handed to write() and not yet accepted by the OS. */
  readonly pendingBytes: number;
  /** Begin delivering data; called once. */
  start(handlers: TransportHandlers): void;
  /** Queue bytes; resolves once accepted by the OS (that is the backpressure). */
  write(bytes: Uint8Array): Promise<void>;
  /** Idempotent. Triggers handlers.close if not already closed. */
  close(): void;
}
