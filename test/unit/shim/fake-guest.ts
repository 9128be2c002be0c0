import { rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { EVENTS, METHODS } from "../../../src/agent/protocol.ts";
import { socketTransport } from "../../../src/agent/transport/unix.ts";
import { Channel } from "../../../src/agent/wire/channel.ts";
import { AgentError } from "../../../src/host/errors.ts";

/**
 * A stand-in for "monitor + guest agent" at <dir>/monitor.sock, speaking the
 * real wire protocol, so the real shim can be driven without a VM. Its
 * "processes" are tiny scripts chosen by args[0]:
 *   echo A B   → "A B\n" on stdout, "err\n" on stderr, exit 0
 *   cat        → stdin to stdout until EOF, exit 0
 *   exit N     → exit N
 *   sleep      → until signalled; then "killed" by that signal
 *   tty        → "tty-ok\r\n" on the terminal, then like cat
 *   fail       → createContainer/exec fails with an agent error
 */

interface FakeProcess {
  done: Promise<{ exitCode: number; signal?: number }>;
  finish(r: { exitCode: number; signal?: number }): void;
}

export interface FakeGuest {
  signals: { containerId: string; execId?: string; signal: number }[];
  resizes: { rows: number; cols: number }[];
  close(): Promise<void>;
}

export async function startFakeGuest(socketPath: string): Promise<FakeGuest> {
  rmSync(socketPath, { force: true });
  const procs = new Map<string, FakeProcess>();
  const signals: FakeGuest["signals"] = [];
  const resizes: FakeGuest["resizes"] = [];
  const channels: Channel[] = [];
  const key = (r: { containerId: string; execId?: string }) => `${r.containerId}/${r.execId ?? ""}`;

  const server: Server = createServer((sock) => {
    const channel: Channel = new Channel({
      name: "fake-guest",
      role: "responder",
      local: {
        methods: METHODS,
        events: EVENTS,
        handler: async (method, req: any) => {
          switch (method) {
            case "version":
              return { agentVersion: "fake", commit: "none", protocolVersion: 1 };
            case "createContainer":
            case "exec": {
              const args: string[] = (method === "exec" ? req.process.args : req.spec.process.args) ?? [];
              if (args[0] === "fail") throw new AgentError("fake guest: cannot start process");
              const stdio = req.stdio;
              const stdin =
                stdio.stdin !== undefined ? channel.attachStream(stdio.stdin, { read: true, write: false }).readable! : undefined;
              const stdout =
                stdio.stdout !== undefined ? channel.attachStream(stdio.stdout, { read: false, write: true }).writable! : undefined;
              const stderr =
                stdio.stderr !== undefined ? channel.attachStream(stdio.stderr, { read: false, write: true }).writable! : undefined;
              let resolve!: FakeProcess["finish"];
              const done = new Promise<{ exitCode: number; signal?: number }>((r) => (resolve = r));
              const out = stdout?.getWriter();
              const err = stderr?.getWriter();
              // A process that ends closes its output streams, whatever ended it.
              const finish = (r: { exitCode: number; signal?: number }) => {
                void out?.close().catch(() => {});
                void err?.close().catch(() => {});
                resolve(r);
              };
              procs.set(key(req), { done, finish });
              void run(args, { stdin, out, err }, finish);
              return { pid: 100 + procs.size };
            }
            case "signalProcess": {
              signals.push({ containerId: req.containerId, ...(req.execId ? { execId: req.execId } : {}), signal: req.signal });
              const p = procs.get(key(req));
              if (p && (req.signal === 9 || req.signal === 15 || req.signal === 2)) p.finish({ exitCode: 0, signal: req.signal });
              return {};
            }
            case "resizeTty":
              resizes.push({ rows: req.rows, cols: req.cols });
              return {};
            case "waitProcess": {
              const p = procs.get(key(req));
              if (!p) throw new AgentError(`no process ${key(req)}`);
              return await p.done;
            }
            default:
              throw new AgentError(`fake guest: ${method} not implemented`);
          }
        },
      },
    });
    channels.push(channel);
    channel.attach(socketTransport(sock, "fake-guest"));
  });
  await new Promise<void>((r) => server.listen(socketPath, () => r()));
  return {
    signals,
    resizes,
    async close() {
      for (const c of channels) await c.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const enc = new TextEncoder();

async function run(
  args: string[],
  io: { stdin?: ReadableStream<Uint8Array>; out?: WritableStreamDefaultWriter<Uint8Array>; err?: WritableStreamDefaultWriter<Uint8Array> },
  end: (r: { exitCode: number; signal?: number }) => void,
): Promise<void> {
  const { out, err } = io;
  const cat = async () => {
    if (!io.stdin) return;
    for await (const chunk of io.stdin) await out?.write(chunk);
  };
  switch (args[0]) {
    case "echo":
      await out?.write(enc.encode(`${args.slice(1).join(" ")}\n`));
      await err?.write(enc.encode("err\n"));
      return end({ exitCode: 0 });
    case "cat":
      await cat();
      return end({ exitCode: 0 });
    case "tty":
      await out?.write(enc.encode("tty-ok\r\n"));
      await cat();
      return end({ exitCode: 0 });
    case "exit":
      return end({ exitCode: Number(args[1] ?? 0) });
    case "sleep":
      return; // ended by signalProcess
    default:
      return end({ exitCode: 127 });
  }
}
