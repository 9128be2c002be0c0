import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, existsSync, mkdirSync, mkdtempSync, read, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { promisify } from "node:util";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acceptUnix, closeSocket, listenUnix, recvFd } from "../../../src/host/ffi/scm.ts";
import { startFakeGuest, type FakeGuest } from "./fake-guest.ts";

/**
 * The real shim (from source, through the real ShimLauncher) against a fake
 * monitor/guest speaking the real protocol: stdio relay, exit status,
 * exit.json, signal forwarding, pid file, console socket, launch failures.
 */

const driver = join(import.meta.dir, "launch-driver.ts");
const readAsync = promisify(read);
let dir: string;
let sandboxDir: string;
let guest: FakeGuest;
let n = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "husk-shim-test-"));
  sandboxDir = join(dir, "sb");
  mkdirSync(sandboxDir);
  guest = await startFakeGuest(join(sandboxDir, "monitor.sock"));
});
afterAll(async () => {
  await guest.close();
  rmSync(dir, { recursive: true, force: true });
});

function initRequest(args: string[], io: Record<string, unknown> = {}) {
  const cid = `c${++n}`;
  mkdirSync(join(sandboxDir, "containers", cid), { recursive: true });
  return {
    cid,
    request: {
      kind: "init",
      sandboxId: "sb",
      sandboxDir,
      containerId: cid,
      spec: {
        ociVersion: "1.0.2",
        process: { user: { uid: 0, gid: 0 }, cwd: "/", args, terminal: io.terminal === true },
        root: { path: "/rootfs" },
      },
      io: { terminal: false, detach: false, ...io },
    },
  };
}

function launch(request: unknown, stdin?: Uint8Array, stdout: "pipe" | "ignore" = "pipe") {
  const reqFile = join(dir, `req-${++n}.json`);
  const resFile = join(dir, `res-${n}.json`);
  writeFileSync(reqFile, JSON.stringify(request));
  const proc = Bun.spawn([process.execPath, driver, reqFile, resFile], {
    stdin: stdin ?? "ignore",
    stdout,
    stderr: stdout,
  });
  const result = () =>
    JSON.parse(readFileSync(resFile, "utf8")) as { ok: boolean; pid?: number; guestPid?: number; code?: string; message?: string };
  return { proc, result, resFile };
}

const exitFile = (cid: string) => JSON.parse(readFileSync(join(sandboxDir, "containers", cid, "exit.json"), "utf8"));

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await Bun.sleep(25);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("shim", () => {
  test("relays stdout and stderr, exits 0, records exit.json", async () => {
    const { cid, request } = initRequest(["echo", "hello", "world"]);
    const { proc, result } = launch(request);
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(code).toBe(0);
    expect(out).toBe("hello world\n");
    expect(err).toBe("err\n");
    expect(result()).toMatchObject({ ok: true, guestPid: expect.any(Number) });
    expect(exitFile(cid)).toEqual({ exitCode: 0 });
  });

  test("exits with the process's exit code", async () => {
    const { cid, request } = initRequest(["exit", "3"]);
    const { proc } = launch(request);
    expect(await proc.exited).toBe(3);
    expect(exitFile(cid)).toEqual({ exitCode: 3 });
  });

  test("relays stdin with backpressure (1 MiB round trip through cat)", async () => {
    const { request } = initRequest(["cat"]);
    const input = new Uint8Array(1024 * 1024).map((_, i) => (i * 7) % 251);
    const { proc } = launch(request, input);
    const out = new Uint8Array(await new Response(proc.stdout).arrayBuffer());
    expect(await proc.exited).toBe(0);
    expect(out.length).toBe(input.length);
    expect(Buffer.compare(Buffer.from(out), Buffer.from(input))).toBe(0);
  });

  test("forwards signals; a process killed by SIGTERM gives 143", async () => {
    const { cid, request } = initRequest(["sleep"]);
    const { proc, result, resFile } = launch(request);
    await waitFor(() => existsSync(resFile));
    const pid = result().pid!;
    process.kill(pid, "SIGUSR1");
    await waitFor(() => guest.signals.some((s) => s.containerId === cid && s.signal === 10));
    process.kill(pid, "SIGTERM");
    expect(await proc.exited).toBe(143);
    expect(guest.signals.filter((s) => s.containerId === cid).map((s) => s.signal)).toEqual([10, 15]);
    expect(exitFile(cid)).toEqual({ exitCode: 143 });
  });

  test("detached: pid file holds the shim pid, which outlives the launcher", async () => {
    const pidFile = join(dir, "detached.pid");
    const { cid, request } = initRequest(["sleep"], { detach: true, pidFile });
    const { proc, result } = launch(request, undefined, "ignore");
    expect(await proc.exited).toBe(0);
    const pid = Number(readFileSync(pidFile, "utf8"));
    expect(pid).toBe(result().pid!);
    expect(alive(pid)).toBe(true);
    process.kill(pid, "SIGINT"); // forwarded as 2: the fake process ends "killed by SIGINT"
    await waitFor(() => existsSync(join(sandboxDir, "containers", cid, "exit.json")));
    expect(exitFile(cid)).toEqual({ exitCode: 130 });
    await waitFor(() => !alive(pid));
  });

  test("a failing create is reported with its code and leaves no shim", async () => {
    const { request } = initRequest(["fail"]);
    const { proc, result } = launch(request);
    expect(await proc.exited).toBe(1);
    expect(result()).toMatchObject({ ok: false, code: "E_AGENT" });
    expect(result().message).toContain("cannot start process");
  });

  test("a console socket that is not a socket is refused before a shim starts", async () => {
    const notSocket = join(dir, "not-a-socket");
    writeFileSync(notSocket, "");
    const { request } = initRequest(["echo"], { terminal: true, detach: true, consoleSocket: notSocket });
    const { proc, result } = launch(request);
    expect(await proc.exited).toBe(1);
    expect(result()).toMatchObject({ ok: false, code: "E_USAGE" });
    expect(result().message).toContain("is not a unix socket");
  });

  test("with a console socket the shim does not hold the caller's stdout/stderr: $(husk create …) returns", {
    timeout: 30_000,
  }, async () => {
    const sockPath = join(dir, "console2.sock");
    const listenFd = listenUnix(sockPath);
    const { request } = initRequest(["tty"], { terminal: true, detach: true, consoleSocket: sockPath });
    const { proc, result } = launch(request, undefined, "pipe");
    let conn: number | null = null;
    await waitFor(() => (conn = acceptUnix(listenFd)) !== null);
    let got: ReturnType<typeof recvFd> = null;
    await waitFor(() => (got = recvFd(conn!)) !== null);
    // Both pipes reach EOF when the launcher exits, while the shim runs on.
    const [out, err] = await Promise.all([
      new Response(proc.stdout as ReadableStream).text(),
      new Response(proc.stderr as ReadableStream).text(),
    ]);
    expect(await proc.exited).toBe(0);
    expect(out + err).toBe("");
    const shimPid = result().pid!;
    expect(alive(shimPid)).toBe(true);
    closeSync(got!.fd);
    closeSocket(conn!);
    closeSocket(listenFd);
    await waitFor(() => !alive(shimPid), 15_000);
  });

  test("console socket receives a working pty master", { timeout: 30_000 }, async () => {
    const sockPath = join(dir, "console.sock");
    const listenFd = listenUnix(sockPath);
    const { cid, request } = initRequest(["tty"], { terminal: true, detach: true, consoleSocket: sockPath });
    const { proc, result } = launch(request, undefined, "ignore");
    let conn: number | null = null;
    await waitFor(() => (conn = acceptUnix(listenFd)) !== null);
    let got: ReturnType<typeof recvFd> = null;
    await waitFor(() => (got = recvFd(conn!)) !== null);
    expect(await proc.exited).toBe(0);
    const master = got!.fd;
    // Reads go to libuv's pool: the fake guest answering them lives in this process's event loop.
    const readSome = async (want: string) => {
      let text = "";
      const buf = Buffer.alloc(4096);
      while (!text.includes(want)) {
        const { bytesRead } = await readAsync(master, buf, 0, buf.length, null);
        text += buf.subarray(0, bytesRead).toString();
      }
      return text;
    };
    expect(await readSome("tty-ok")).toContain("tty-ok");
    writeSync(master, "ping\n");
    expect(await readSome("ping")).toContain("ping");
    const shimPid = result().pid!;
    closeSync(master);
    closeSocket(conn!);
    closeSocket(listenFd);
    // Hang-up of the terminal: the shim forwards it / sees EOF, the process ends, the shim exits.
    await waitFor(() => !alive(shimPid), 15_000);
    expect(existsSync(join(sandboxDir, "containers", cid, "exit.json"))).toBe(true);
  });
});
