import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket } from "bun";
import { ProtocolError } from "../host/errors.ts";

/**
 * A one-shot, line-framed JSON channel between the launching CLI and the
 * shim it spawns: a unix socket in a fresh 0700 directory (short path, so
 * it fits sun_path whatever --root is). Only the shim knows the path.
 */

const MAX_LINE = 16 * 1024 * 1024;

export interface LineConn {
  send(value: unknown): void;
  /** Next JSON line; rejects when the peer closes first. */
  receive(): Promise<unknown>;
  close(): void;
}

interface ConnState {
  buffer: string;
  lines: string[];
  waiters: { resolve: (s: string) => void; reject: (e: Error) => void }[];
  closed: boolean;
}

function makeState(): ConnState {
  return { buffer: "", lines: [], waiters: [], closed: false };
}

function onData(st: ConnState, data: Uint8Array): void {
  st.buffer += Buffer.from(data).toString("utf8");
  if (st.buffer.length > MAX_LINE) {
    onClose(st, new ProtocolError("handshake message too large"));
    return;
  }
  let nl: number;
  while ((nl = st.buffer.indexOf("\n")) >= 0) {
    const line = st.buffer.slice(0, nl);
    st.buffer = st.buffer.slice(nl + 1);
    const w = st.waiters.shift();
    if (w) w.resolve(line);
    else st.lines.push(line);
  }
}

function onClose(st: ConnState, err: Error = new ProtocolError("handshake peer closed the connection")): void {
  st.closed = true;
  for (const w of st.waiters.splice(0)) w.reject(err);
}

function conn(st: ConnState, socket: Socket<unknown>): LineConn {
  return {
    send(value) {
      const data = `${JSON.stringify(value)}\n`;
      // Handshake messages are written once; Bun buffers what the kernel does not take.
      socket.write(data);
      socket.flush();
    },
    receive() {
      const line = st.lines.shift();
      if (line !== undefined) return Promise.resolve(parse(line));
      if (st.closed) return Promise.reject(new ProtocolError("handshake peer closed the connection"));
      return new Promise<string>((resolve, reject) => st.waiters.push({ resolve, reject })).then(parse);
    },
    close() {
      socket.end();
    },
  };
}

function parse(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch (e) {
    throw new ProtocolError(`malformed handshake message: ${(e as Error).message}`, { cause: e });
  }
}

export interface HandshakeServer {
  path: string;
  /** The first connection (the shim). */
  accepted: Promise<LineConn>;
  close(): void;
}

export function listenHandshake(): HandshakeServer {
  const dir = mkdtempSync(join(tmpdir(), "husk-shim-"));
  const path = join(dir, "s");
  let resolveConn!: (c: LineConn) => void;
  const accepted = new Promise<LineConn>((r) => (resolveConn = r));
  const states = new WeakMap<object, ConnState>();
  const server = Bun.listen<undefined>({
    unix: path,
    socket: {
      open(socket) {
        const st = makeState();
        states.set(socket, st);
        resolveConn(conn(st, socket));
      },
      data(socket, data) {
        const st = states.get(socket);
        if (st) onData(st, data);
      },
      close(socket) {
        const st = states.get(socket);
        if (st) onClose(st);
      },
      error(socket, err) {
        const st = states.get(socket);
        if (st) onClose(st, err);
      },
    },
  });
  return {
    path,
    accepted,
    close() {
      server.stop(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function connectHandshake(path: string): Promise<LineConn> {
  const st = makeState();
  const socket = await Bun.connect<undefined>({
    unix: path,
    socket: {
      data(_s, data) {
        onData(st, data);
      },
      close() {
        onClose(st);
      },
      error(_s, err) {
        onClose(st, err);
      },
    },
  });
  return conn(st, socket);
}
