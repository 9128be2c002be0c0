import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, closeSync, read, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { openpty, setWinsize } from "../../src/host/ffi/pty.ts";
import { alive, canRun, HUSK, husk, makeBundle, makeEnv, waitFor, type E2eEnv } from "./env.ts";

/**
 * `husk debug-console` at a terminal (a pty this test holds the master of):
 * a root shell in the guest, outside the container (crun is there, the
 * container's busybox rootfs has none), resized with the terminal, ended by
 * exit or by a forwarded signal with the shell's status; by a pod
 * container's id, the pod's guest. Refusals as JSON
 * error codes: console disabled, unknown id, stopped sandbox.
 */

let env: E2eEnv;
const readAsync = promisify(read);

interface Session {
  proc: ReturnType<typeof Bun.spawn>;
  master: number;
  until(re: RegExp): Promise<string>;
  write(s: string): void;
}

function session(id: string, size = { rows: 33, cols: 101 }): Session {
  const pty = openpty(size);
  const proc = Bun.spawn([HUSK, ...env.globals, "debug-console", id], { stdio: [pty.slave, pty.slave, pty.slave] });
  closeSync(pty.slave);
  let text = "";
  const buf = Buffer.alloc(4096);
  return {
    proc,
    master: pty.master,
    async until(re) {
      while (!re.test(text)) {
        let n = 0;
        try {
          ({ bytesRead: n } = await readAsync(pty.master, buf, 0, buf.length, null));
        } catch {
          break; // EIO: husk exited and closed the terminal
        }
        if (n === 0) break;
        text += buf.subarray(0, n).toString();
      }
      return text;
    },
    write(s) {
      writeSync(pty.master, s);
    },
  };
}

describe.skipIf(!canRun)("debug console into the guest", () => {
  beforeAll(async () => {
    env = makeEnv("dbgcon");
    appendFileSync(env.config, "[debug]\nconsole = true\n");
    const bundle = makeBundle(env, "b", ["sleep", "300"]);
    const r = await husk(env, ["run", "--detach", "--bundle", bundle, "dc1"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  }, 300_000);
  afterAll(async () => {
    await env?.cleanup();
  });

  test("a root shell in the guest at a terminal: outside the container, resize, exit status", { timeout: 120_000 }, async () => {
    const s = session("dc1");
    s.write("stty size; id -u; command -v crun >/dev/null && echo guest-$((40+2)); ps | grep -c '[s]leep 300'\n");
    const out = await s.until(/guest-42[\s\S]*\n1\r?\n/);
    expect(out).toMatch(/33 101/);
    expect(out).toMatch(/\n0\r?\n/); // root
    setWinsize(s.master, { rows: 44, cols: 120 });
    s.proc.kill("SIGWINCH"); // what a terminal emulator's resize does
    await Bun.sleep(1000);
    s.write("stty size; exit 5\n");
    expect(await s.until(/44 120/)).toMatch(/44 120/);
    expect(await s.proc.exited).toBe(5);
    closeSync(s.master);
    // the container was not touched
    const st = await husk(env, ["state", "dc1"]);
    expect(JSON.parse(st.stdout).status).toBe("running");
  });

  test("a signal to husk reaches the shell (SIGHUP: 129)", { timeout: 120_000 }, async () => {
    const s = session("dc1");
    s.write("echo ready-$((1+1))\n");
    await s.until(/ready-2/);
    s.proc.kill("SIGHUP");
    expect(await s.proc.exited).toBe(129);
    closeSync(s.master);
  });

  test("without a terminal: plain pipes, stdin to EOF, the shell's status", { timeout: 120_000 }, async () => {
    const r = await husk(env, ["debug-console", "dc1"], { stdin: "echo piped-$((2+3)); echo err >&2; exit 6\n" });
    expect(r.stdout).toBe("piped-5\n");
    expect(r.stderr).toBe("err\n");
    expect(r.code).toBe(6);
  });

  test("by a pod container's id: the pod's guest, every container's processes in view", { timeout: 300_000 }, async () => {
    const cri = (type: string) => ({ "io.kubernetes.cri.container-type": type, "io.kubernetes.cri.sandbox-id": "pod1" });
    const pause = makeBundle(env, "pause", ["sleep", "1001"], { annotations: cri("sandbox") });
    const app = makeBundle(env, "app", ["sleep", "1002"], { annotations: cri("container") });
    expect((await husk(env, ["run", "-d", "--bundle", pause, "pod1"])).code).toBe(0);
    expect((await husk(env, ["run", "-d", "--bundle", app, "app1"])).code).toBe(0);
    const r = await husk(env, ["debug-console", "app1"], { stdin: "ps | grep -c '[s]leep 100[12]'\n" });
    expect(r.stdout).toBe("2\n");
    expect(r.code).toBe(0);
    expect((await husk(env, ["delete", "--force", "app1"])).code).toBe(0);
    expect((await husk(env, ["delete", "--force", "pod1"])).code).toBe(0);
  });

  test("refusals as JSON error codes: disabled, unknown id, stopped sandbox", { timeout: 300_000 }, async () => {
    const json = async (args: string[]) => {
      const r = await husk(env, ["debug-console", "--format", "json", ...args]);
      expect(r.code).toBe(1);
      return JSON.parse(r.stdout).error as { code: string; message: string };
    };
    expect((await json(["nosuch"])).code).toBe("E_NOT_FOUND");

    const off = join(env.dir, "off.toml");
    writeFileSync(off, (await Bun.file(env.config).text()).replace("console = true", "console = false"));
    const r = await husk({ ...env, globals: ["--root", env.root, "--config", off] }, ["debug-console", "--format", "json", "dc1"]);
    expect(r.code).toBe(1);
    const disabled = JSON.parse(r.stdout).error;
    expect(disabled.code).toBe("E_DISABLED");
    expect(disabled.message).toContain("[debug] console = true");

    // A stopped sandbox: its monitor told to stop (SIGTERM stops the VM as if asked, then exits).
    const bundle = makeBundle(env, "q", ["sleep", "300"]);
    expect((await husk(env, ["run", "--detach", "--bundle", bundle, "dc2"])).code).toBe(0);
    const state = JSON.parse(readFileSync(join(env.root, "sandboxes", "dc2", "state.json"), "utf8")) as { vmPid: number };
    process.kill(state.vmPid, "SIGTERM");
    await waitFor(() => !alive(state.vmPid) || undefined, 60_000, "the monitor of dc2 to exit");
    const stopped = await json(["dc2"]);
    expect(stopped.code).toBe("E_INVALID_STATE");
    expect(stopped.message).toContain("sandbox dc2 is stopped");
    await husk(env, ["delete", "--force", "dc2"]);
  });
});
