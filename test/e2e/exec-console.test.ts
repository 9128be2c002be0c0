import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, read, writeSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { acceptUnix, closeSocket, listenUnix, recvFd } from "../../src/host/ffi/scm.ts";
import { canRun, husk, leftovers, makeBundle, makeEnv, waitFor, type E2eEnv } from "./env.ts";

/** exec (stdin piped, exit codes, -p process.json) and --console-socket on one VM. */

let env: E2eEnv;
const T = 300_000;
const readAsync = promisify(read);

describe.skipIf(!canRun)("exec and console socket on a VM", () => {
  beforeAll(() => {
    env = makeEnv("exec");
  });
  afterAll(async () => {
    await env.cleanup();
  });

  test("exec with stdin piped, exit codes, process.json", { timeout: T }, async () => {
    const bundle = makeBundle(env, "b", ["sleep", "1000"]);
    expect((await husk(env, ["run", "-d", "--bundle", bundle, "e1"])).code).toBe(0);

    const cat = await husk(env, ["exec", "e1", "sh", "-c", "tr a-z A-Z"], { stdin: "hello from stdin\n" });
    expect(cat.code).toBe(0);
    expect(cat.stdout).toBe("HELLO FROM STDIN\n");

    const five = await husk(env, ["exec", "--env", "X=5", "e1", "sh", "-c", 'exit "$X"']);
    expect(five.code).toBe(5);

    const procFile = join(env.dir, "process.json");
    await Bun.write(
      procFile,
      JSON.stringify({ args: ["sh", "-c", "pwd; id -u"], cwd: "/tmp", user: { uid: 0, gid: 0 }, env: ["PATH=/bin"] }),
    );
    const p = await husk(env, ["exec", "--process", procFile, "e1"]);
    expect(p.code).toBe(0);
    expect(p.stdout).toBe("/tmp\n0\n");

    const pidFile = join(env.dir, "exec.pid");
    const d = await husk(env, ["exec", "--detach", "--pid-file", pidFile, "e1", "sleep", "5"]);
    expect(d.code).toBe(0);
    expect(Number(await Bun.file(pidFile).text())).toBeGreaterThan(1);

    expect((await husk(env, ["delete", "--force", "e1"])).code).toBe(0);
    expect(leftovers(env)).toEqual([]);
  });

  test("console socket receives a working pty master", { timeout: T }, async () => {
    const bundle = makeBundle(env, "t", ["sh"], { terminal: true });
    const sock = join(env.dir, "console.sock");
    const lfd = listenUnix(sock);
    const created = husk(env, ["create", "--bundle", bundle, "--console-socket", sock, "t1"]);
    const conn = await waitFor(() => acceptUnix(lfd) ?? undefined, 240_000, "console connection");
    const got = await waitFor(() => recvFd(conn) ?? undefined, 30_000, "pty master");
    expect((await created).code).toBe(0);
    expect((await husk(env, ["start", "t1"])).code).toBe(0);
    const master = got.fd;
    writeSync(master, "echo tty-$((40+2)); tty\n");
    let text = "";
    const buf = Buffer.alloc(4096);
    const end = Date.now() + 60_000;
    while (!/tty-42[\s\S]*\/dev\/pts/.test(text) && Date.now() < end) {
      const { bytesRead } = await readAsync(master, buf, 0, buf.length, null);
      text += buf.subarray(0, bytesRead).toString();
    }
    expect(text).toContain("tty-42");
    expect(text).toMatch(/\/dev\/pts\/\d+/);
    writeSync(master, "exit 7\n");
    await waitFor(async () => JSON.parse((await husk(env, ["state", "t1"])).stdout).status === "stopped", 60_000, "stopped");
    closeSync(master);
    closeSocket(conn);
    closeSocket(lfd);
    expect((await husk(env, ["delete", "t1"])).code).toBe(0);
  });
});
