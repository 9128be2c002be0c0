import type { Transport, TransportHandlers } from "../wire/transport.ts";

/**
 * Two connected in-memory transports (tests, and an in-process agent for the
 * monitor itself). Writes are delivered asynchronously, like a socket.
 */
export function memoryPair(): [Transport, Transport] {
  const a = new MemoryEnd("mem:a");
  const b = new MemoryEnd("mem:b");
  a.peer = b;
  b.peer = a;
  return [a, b];
}

class MemoryEnd implements Transport {
  peer!: MemoryEnd;
  private handlers: TransportHandlers | undefined;
  private early: Uint8Array[] = [];
  private closed = false;
  pendingBytes = 0;
  constructor(readonly label: string) {}

  start(h: TransportHandlers): void {
    this.handlers = h;
    for (const c of this.early.splice(0)) h.data(c);
    if (this.closed) h.close();
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`${this.label}: closed`));
    const copy = bytes.slice();
    this.pendingBytes += copy.length;
    return new Promise((resolve) =>
      queueMicrotask(() => {
        this.pendingBytes -= copy.length;
        this.peer.deliver(copy);
        resolve();
      }),
    );
  }

  private deliver(bytes: Uint8Array): void {
    if (this.closed) return;
    if (this.handlers) this.handlers.data(bytes);
    else this.early.push(bytes);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers?.close();
    queueMicrotask(() => this.peer.close());
  }
}
