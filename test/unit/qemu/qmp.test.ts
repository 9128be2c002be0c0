import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HuskError } from "../../../src/host/errors.ts";
import { QmpClient, QmpError } from "../../../src/hypervisor/qemu/qmp.ts";

/** A fake QEMU monitor: greets, answers qmp_capabilities, then lets each test script replies. */

const GREETING = JSON.stringify({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 22 }, package: "" }, capabilities: ["oob"] } });

interface Fake {
  path: string;
  server: Server;
  /** Requests received after negotiation. */
  requests: Array<{ execute: string; arguments?: unknown; id: string }>;
  sock: Promise<Socket>;
}

let fakes: Server[] = [];
afterEach(() => {
  for (const s of fakes) s.close();
  fakes = [];
});

function fake(
  onRequest: (req: { execute: string; id: string; arguments?: unknown }, sock: Socket) => void,
  greeting = GREETING,
): Promise<Fake> {
  const path = join(mkdtempSync(join(tmpdir(), "husk-qmp-")), "qmp.sock");
  const requests: Fake["requests"] = [];
  let gotSock!: (s: Socket) => void;
  const sock = new Promise<Socket>((r) => (gotSock = r));
  const server = createServer((s) => {
    gotSock(s);
    s.write(`${greeting}\r\n`);
    let buf = "";
    s.on("data", (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const req = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (req.execute === "qmp_capabilities") s.write(`${JSON.stringify({ return: {}, id: req.id })}\r\n`);
        else {
          requests.push(req);
          onRequest(req, s);
        }
      }
    });
    s.on("error", () => {});
  });
  fakes.push(server);
  return new Promise((resolve) => server.listen(path, () => resolve({ path, server, requests, sock })));
}

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<HuskError> {
  try {
    await p;
  } catch (e) {
    return e as HuskError;
  }
  throw new Error("expected a rejection");
}

const reply = (s: Socket, obj: unknown) => s.write(`${JSON.stringify(obj)}\r\n`);

describe("QmpClient", () => {
  test("negotiates capabilities, reads the version, executes with id correlation", async () => {
    const f = await fake((req, s) => {
      if (req.execute === "query-status") reply(s, { return: { running: true, singlestep: false, status: "running" }, id: req.id });
    });
    const c = await QmpClient.connect(f.path);
    expect(c.version).toBe("7.2.22");
    expect(await c.queryStatus()).toEqual({ running: true, singlestep: false, status: "running" });
    expect(f.requests[0]).toMatchObject({ execute: "query-status" });
    c.close();
  });

  test("out-of-order replies go to the right caller", async () => {
    const held: Array<{ id: string; execute: string }> = [];
    const f = await fake((req, s) => {
      held.push(req);
      if (held.length === 2) for (const r of held.reverse()) reply(s, { return: { name: r.execute }, id: r.id });
    });
    const c = await QmpClient.connect(f.path);
    const [a, b] = await Promise.all([c.execute("stop"), c.execute("cont")]);
    expect(a).toEqual({ name: "stop" });
    expect(b).toEqual({ name: "cont" });
    c.close();
  });

  test("error replies reject with QmpError naming the class", async () => {
    const f = await fake((req, s) =>
      reply(s, { error: { class: "CommandNotFound", desc: "The command nope has not been found" }, id: req.id }),
    );
    const c = await QmpClient.connect(f.path);
    const err = await rejection(c.execute("nope"));
    expect(err).toBeInstanceOf(QmpError);
    expect(err.code).toBe("E_HYPERVISOR");
    expect(err.message).toContain("CommandNotFound");
    c.close();
  });

  test("events reach listeners, interleaved with replies", async () => {
    const f = await fake((req, s) => {
      reply(s, { event: "STOP", timestamp: { seconds: 1, microseconds: 2 } });
      reply(s, { return: {}, id: req.id });
    });
    const c = await QmpClient.connect(f.path);
    const events: string[] = [];
    c.onEvent((e) => events.push(e.event));
    await c.execute("stop");
    expect(events).toEqual(["STOP"]);
    c.close();
  });

  test("replies with unknown ids are ignored, the connection keeps serving", async () => {
    const f = await fake((req, s) => {
      reply(s, { return: {}, id: "not-mine" });
      reply(s, { return: 7, id: req.id });
    });
    const c = await QmpClient.connect(f.path);
    expect(await c.execute("x")).toBe(7);
    c.close();
  });

  test("a command times out when QEMU never answers", async () => {
    const f = await fake(() => {});
    const c = await QmpClient.connect(f.path);
    const err = await rejection(c.execute("query-status", undefined, { timeoutMs: 100 }));
    expect(err.code).toBe("E_TIMEOUT");
    c.close();
  });

  const hostile: Array<[string, string]> = [
    ["invalid JSON", "{not json"],
    ["a JSON array", "[1,2,3]"],
    ["a reply with a numeric id", JSON.stringify({ return: {}, id: 5 })],
    ["an error without desc", JSON.stringify({ error: { class: "X" }, id: "husk-2" })],
    ["a bare string", '"hello"'],
    ["an event without a name", JSON.stringify({ event: 42 })],
  ];
  for (const [what, line] of hostile) {
    test(`hostile line (${what}) fails pending commands with E_PROTOCOL and closes`, async () => {
      const f = await fake((_req, s) => s.write(`${line}\n`));
      const c = await QmpClient.connect(f.path);
      const err = await rejection(c.execute("query-status", undefined, { timeoutMs: 2000 }));
      expect(err.code).toBe("E_PROTOCOL");
      await c.closed;
      const again = await rejection(c.execute("query-status"));
      expect(again.code).toBe("E_PROTOCOL");
    });
  }

  test("an endless line without newline is cut off at the limit, not buffered", async () => {
    const f = await fake((_req, s) => {
      const chunk = "x".repeat(64 * 1024);
      for (let i = 0; i < 20; i++) s.write(chunk);
    });
    const c = await QmpClient.connect(f.path);
    const err = await rejection(c.execute("query-status", undefined, { timeoutMs: 5000 }));
    expect(err.code).toBe("E_PROTOCOL");
    expect(err.message).toContain("exceeds");
  });

  test("a peer that never greets times out at connect", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "husk-qmp-")), "qmp.sock");
    const server = createServer(() => {});
    fakes.push(server);
    await new Promise<void>((r) => server.listen(path, r));
    const err = await rejection(QmpClient.connect(path, { timeoutMs: 200 }));
    expect(err.code).toBe("E_TIMEOUT");
  });

  test("a wrong greeting is a protocol error", async () => {
    const f = await fake(() => {}, JSON.stringify({ hello: "world" }));
    const err = await rejection(QmpClient.connect(f.path, { timeoutMs: 1000 }));
    expect(err.code).toBe("E_PROTOCOL");
  });

  test("connection closed by QEMU rejects pending commands", async () => {
    const f = await fake((_req, s) => s.destroy());
    const c = await QmpClient.connect(f.path);
    const err = await rejection(c.execute("quit"));
    expect(err.code).toBe("E_HYPERVISOR");
    expect(err.message).toContain("closed");
  });

  test("no socket: clear error naming the path", async () => {
    const err = await rejection(QmpClient.connect("/nonexistent/qmp.sock", { timeoutMs: 500 }));
    expect(err.code).toBe("E_HYPERVISOR");
    expect(err.message).toContain("/nonexistent/qmp.sock");
  });
});
