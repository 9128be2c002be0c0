import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, read, writeSync } from "node:fs";
import { promisify } from "node:util";
import { openpty, setWinsize } from "../../src/host/ffi/pty.ts";
import { canRun, HUSK, makeBundle, makeEnv, type E2eEnv } from "./env.ts";

/**
 * `husk run` with a terminal bundle at an interactive terminal (a pty this
 * test holds the master of): raw mode, input and output relayed, the
 * terminal size reaching the guest, the exit status coming back.
 */

let env: E2eEnv;
const readAsync = promisify(read);

describe.skipIf(!canRun)("run -t at a terminal", () => {
  beforeAll(() => {
    env = makeEnv("tty");
  });
  afterAll(async () => {
    await env.cleanup();
  });

  test("interactive shell through the terminal", { timeout: 300_000 }, async () => {
    const bundle = makeBundle(env, "t", ["sh"], { terminal: true });
    const pty = openpty({ rows: 33, cols: 101 });
    const p = Bun.spawn([HUSK, ...env.globals, "run", "--bundle", bundle, "tty1"], { stdio: [pty.slave, pty.slave, pty.slave] });
    closeSync(pty.slave);
    let text = "";
    const buf = Buffer.alloc(4096);
    const until = async (re: RegExp) => {
      while (!re.test(text)) {
        const { bytesRead } = await readAsync(pty.master, buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        text += buf.subarray(0, bytesRead).toString();
      }
      return text;
    };
    // Typed ahead while the VM boots: the terminal holds it until the shell reads it.
    writeSync(pty.master, "stty size; echo tty-$((40+2))\n");
    expect(await until(/tty-42/)).toMatch(/33 101/);
    setWinsize(pty.master, { rows: 40, cols: 120 });
    p.kill("SIGWINCH"); // a terminal emulator's resize reaches husk as SIGWINCH
    await Bun.sleep(1000);
    writeSync(pty.master, "stty size; exit 5\n");
    expect(await until(/40 120/)).toMatch(/40 120/);
    expect(await p.exited).toBe(5);
    closeSync(pty.master);
  });
});
