import { existsSync, readdirSync, readFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { logger } from "../../host/log.ts";
import type { Transport, TransportHandlers } from "../wire/transport.ts";

const log = logger("agent-port");

/** /dev/vportNpM of the virtio-serial port with this name, or null. */
export function findVirtioPort(name: string, sysRoot = "/sys/class/virtio-ports", devRoot = "/dev"): string | null {
  if (!existsSync(sysRoot)) return null;
  for (const entry of readdirSync(sysRoot)) {
    try {
      if (readFileSync(join(sysRoot, entry, "name"), "utf8").trim() === name) return join(devRoot, entry);
    } catch {
      // a port without a name
    }
  }
  return null;
}

/** The raw device: read blocks until data (0 = no host connected), write sends. */
export interface PortDevice {
  read(buf: Uint8Array): Promise<number>;
  write(bytes: Uint8Array): Promise<void>;
}

export async function openPortDevice(path: string): Promise<PortDevice> {
  const fh = await open(path, "r+");
  return {
    async read(buf) {
      return (await fh.read(buf, 0, buf.length, null)).bytesRead;
    },
    async write(bytes) {
      let off = 0;
      while (off < bytes.length) off += (await fh.write(bytes, off, bytes.length - off, null)).bytesWritten;
    },
  };
}

/**
 * A virtio-serial port keeps no connection: the host side (QEMU's chardev
 * socket) comes and goes, and the guest reads EOF while nobody is connected.
 * PortSessions turns that into a sequence of Transports: a session starts
 * with the first bytes after a quiet period and ends at EOF. The channel's
 * HELLO handshake restarts on each.
 */
export class PortSessions {
  private current: SessionTransport | undefined;
  private ready: SessionTransport[] = [];
  private waiter: ((t: Transport) => void) | undefined;
  private stopped = false;

  constructor(
    private readonly device: PortDevice,
    private readonly label = "vport",
    // Only polled while no host is connected (the monitor stays connected
    // for the VM's life): short, so a clone restored from a template — saved
    // in this wait — answers its new host at once.
    private readonly idleMs = 5,
  ) {
    void this.loop();
  }

  /** The next session (resolves when the host sends something). */
  next(): Promise<Transport> {
    const t = this.ready.shift();
    if (t) return Promise.resolve(t);
    return new Promise((resolve) => (this.waiter = resolve));
  }

  stop(): void {
    this.stopped = true;
    this.current?.close();
  }

  private async loop(): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    while (!this.stopped) {
      let n: number;
      try {
        n = await this.device.read(buf);
      } catch (e) {
        log.warn(`${this.label}: read failed: ${e instanceof Error ? e.message : String(e)}`);
        this.endCurrent();
        await Bun.sleep(500);
        continue;
      }
      if (n === 0) {
        // No host connected (or it just left).
        this.endCurrent();
        await Bun.sleep(this.idleMs);
        continue;
      }
      const chunk = buf.slice(0, n);
      if (!this.current || this.current.isClosed) {
        this.current = new SessionTransport(this.device, this.label);
        this.current.deliver(chunk);
        const w = this.waiter;
        this.waiter = undefined;
        if (w) w(this.current);
        else {
          // Keep only the newest unclaimed session.
          this.ready = [this.current];
        }
      } else this.current.deliver(chunk);
    }
  }

  private endCurrent(): void {
    if (this.current && !this.current.isClosed) {
      log.debug(`${this.label}: host disconnected`);
      this.current.close();
    }
  }
}

class SessionTransport implements Transport {
  pendingBytes = 0;
  private handlers: TransportHandlers | undefined;
  private early: Uint8Array[] = [];
  private closed = false;

  constructor(
    private readonly device: PortDevice,
    readonly label: string,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  deliver(chunk: Uint8Array): void {
    if (this.closed) return;
    if (this.handlers) this.handlers.data(chunk);
    else if (this.early.length < 64) this.early.push(chunk); // bounded: the channel starts at once
  }

  start(h: TransportHandlers): void {
    this.handlers = h;
    for (const c of this.early.splice(0)) h.data(c);
    if (this.closed) h.close();
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (this.closed) throw new Error(`${this.label}: session ended`);
    this.pendingBytes += bytes.length;
    try {
      await this.device.write(bytes);
    } finally {
      this.pendingBytes -= bytes.length;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers?.close();
  }
}
