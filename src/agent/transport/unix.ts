import net from "node:net";
import { MonitorError } from "../../host/errors.ts";
import { withTimeout } from "../../host/time.ts";
import type { Transport, TransportHandlers } from "../wire/transport.ts";

/** Wrap a connected node:net socket (client side, or one accepted by a server). */
export function socketTransport(socket: net.Socket, label = "unix"): Transport {
  let pending = 0;
  let handlers: TransportHandlers | undefined;
  let closed = false;
  const early: Uint8Array[] = [];
  let earlyClose: { error?: Error } | undefined;
  const finish = (error?: Error) => {
    if (closed) return;
    closed = true;
    if (handlers) handlers.close(error);
    else earlyClose = { error };
  };
  socket.on("data", (chunk: Buffer) => {
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
    if (handlers) handlers.data(bytes);
    else early.push(bytes);
  });
  socket.on("error", (e) => finish(e));
  socket.on("close", () => finish());
  socket.on("end", () => socket.end());
  return {
    label,
    get pendingBytes() {
      return pending;
    },
    start(h) {
      handlers = h;
      for (const c of early.splice(0)) h.data(c);
      if (earlyClose) h.close(earlyClose.error);
    },
    write(bytes) {
      if (closed || socket.destroyed) return Promise.reject(new Error(`${label}: connection closed`));
      pending += bytes.length;
      return new Promise((resolve, reject) => {
        socket.write(bytes, (err) => {
          pending -= bytes.length;
          if (err) reject(err);
          else resolve();
        });
      });
    },
    close() {
      socket.destroy();
      finish();
    },
  };
}

/** Connect to a unix socket (QEMU's agent chardev or the monitor's socket). */
export async function connectUnix(path: string, options: { timeoutMs?: number } = {}): Promise<Transport> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const socket = net.createConnection({ path });
  const connected = new Promise<Transport>((resolve, reject) => {
    socket.once("connect", () => {
      socket.removeAllListeners("error");
      resolve(socketTransport(socket, `unix:${path}`));
    });
    socket.once("error", (e) => reject(new MonitorError(`cannot connect to ${path}: ${e.message}`, { cause: e, details: { path } })));
  });
  return withTimeout(connected, timeoutMs, () => {
    socket.destroy();
    return new MonitorError(`connecting to ${path} timed out after ${timeoutMs} ms`, { details: { path } });
  });
}
