import { describe, expect, test } from "bun:test";
import { closeSync, mkdtempSync, read, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { colorAllowed, plainLine } from "../../../src/cli/logging.ts";
import { openpty } from "../../../src/host/ffi/pty.ts";
import { haveBinary, HUSK } from "./helpers.ts";

/**
 * Colour and decoration only on a terminal: `husk --help | less`, an error
 * in a script's log, `--format json` and NO_COLOR get plain text.
 */

const ESC = /\u001b/;

describe("colour decision", () => {
  test("a terminal gets colour; a pipe, NO_COLOR, TERM=dumb and --format json do not", () => {
    const tty = { isTTY: true };
    expect(colorAllowed(tty, {}, false)).toBe(true);
    expect(colorAllowed({ isTTY: false }, {}, false)).toBe(false);
    expect(colorAllowed({}, {}, false)).toBe(false);
    expect(colorAllowed(tty, { NO_COLOR: "1" }, false)).toBe(false);
    expect(colorAllowed(tty, { NO_COLOR: "yes" }, false)).toBe(false);
    expect(colorAllowed(tty, { NO_COLOR: "" }, false)).toBe(true); // no-color.org: an empty value does not count
    expect(colorAllowed(tty, { TERM: "dumb" }, false)).toBe(false);
    expect(colorAllowed(tty, {}, true)).toBe(false);
  });
  test("plain log lines: level and tag in brackets, no icons", () => {
    expect(plainLine({ type: "warn", tag: "config", args: ["no file", 3] })).toBe("[warn] [config] no file 3\n");
  });
});

describe.skipIf(!haveBinary)("dist/husk through a pipe", () => {
  const root = mkdtempSync(join(tmpdir(), "husk-plain-"));
  // CI=true (as .ci/run has it) makes citty's colour library plain everywhere: a terminal test runs without it.
  const env = { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, CI: undefined, TERM: "xterm-256color" };

  async function piped(args: string[]) {
    const p = Bun.spawn([HUSK, ...args], { stdout: "pipe", stderr: "pipe", stdin: "ignore", env });
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { code, stdout, stderr };
  }

  test("--help and a command's help have no escape codes", async () => {
    for (const args of [["--help"], [], ["image", "--help"], ["exec", "--help"]]) {
      const r = await piped(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("USAGE");
      expect(r.stdout).not.toMatch(ESC);
      expect(r.stderr).not.toMatch(ESC);
    }
  });

  test("errors and logs have no escape codes (text and --format json)", async () => {
    const cases = [
      ["nosuch"], // citty's coloured "Unknown command"
      ["--debug", "--root", root, "state", "nosuch"], // a debug log and an error
      ["--debug", "--root", root, "state", "--format", "json", "nosuch"],
      ["--root", root, "list", "--format", "bogus"],
    ];
    for (const args of cases) {
      const r = await piped(args);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/^husk: /m);
      expect(r.stdout + r.stderr).not.toMatch(ESC);
    }
    const debug = await piped(["--debug", "--root", root, "list"]);
    expect(debug.stderr).toMatch(/^\[debug\] \[config\] /m);
    expect(debug.stderr).not.toMatch(ESC);
    rmSync(root, { recursive: true, force: true });
  });

  test("at a terminal --help is coloured, unless NO_COLOR", async () => {
    const readAsync = promisify(read);
    const run = async (extra: Record<string, string>) => {
      const pty = openpty({ rows: 50, cols: 200 });
      const p = Bun.spawn([HUSK, "--help"], { stdio: [pty.slave, pty.slave, pty.slave], env: { ...env, ...extra } });
      closeSync(pty.slave);
      let text = "";
      const buf = Buffer.alloc(65536);
      for (;;) {
        try {
          const { bytesRead } = await readAsync(pty.master, buf, 0, buf.length, null);
          if (bytesRead === 0) break;
          text += buf.subarray(0, bytesRead).toString();
        } catch {
          break; // EIO: the slave side is closed
        }
      }
      closeSync(pty.master);
      expect(await p.exited).toBe(0);
      return text;
    };
    expect(await run({})).toMatch(ESC);
    const plain = await run({ NO_COLOR: "1" });
    expect(plain).toContain("USAGE");
    expect(plain).not.toMatch(ESC);
  });
});
