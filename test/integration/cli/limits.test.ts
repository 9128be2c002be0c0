import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { haveBinary, husk } from "./helpers.ts";

/**
 * Sizes bounded at the door, through the compiled binary as a client drives
 * it (docs/limits.md): the 20 MB config.json (20,000 annotations of
 * 1,000 bytes; it used to keep `husk create` busy for 185 s) is refused
 * within a second, and nothing is left under --root. None of these reach a VM.
 */

let dir: string;
let root: string;

function bundle(name: string, spec: Record<string, unknown> | string): string {
  const b = join(dir, name);
  mkdirSync(join(b, "rootfs"), { recursive: true });
  writeFileSync(join(b, "config.json"), typeof spec === "string" ? spec : JSON.stringify(spec));
  return b;
}

const base = { ociVersion: "1.0.2", process: { user: { uid: 0, gid: 0 }, cwd: "/", args: ["true"] }, root: { path: "rootfs" } };

function annotations(n: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < n; i++) out[`example.com/annotation-${i}`] = "v".repeat(1000);
  return out;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "husk-cli-limits-"));
  root = join(dir, "root");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function nothingLeft(): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(root, { recursive: true }) as string[];
  } catch {
    // no root at all: nothing left either
  }
  expect(entries.filter((e) => !e.endsWith("lock"))).toEqual([]);
}

describe.skipIf(!haveBinary)("sizes bounded at the door (dist/husk)", () => {
  for (const verb of ["create", "run"]) {
    test(`${verb}: a 20 MB config.json is refused within a second, naming its size and the 4 MiB limit; nothing left`, async () => {
      const b = bundle(`huge-${verb}`, { ...base, annotations: annotations(20_000) });
      const t = performance.now();
      const r = await husk(["--root", root, verb, "-b", b, `huge-${verb}`]);
      const ms = performance.now() - t;
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^husk: .*\/config\.json is 2\d{7} bytes, over the 4 MiB limit\n$/);
      expect(ms).toBeLessThan(1000);
      nothingLeft();
    });
  }

  test("the refusal is also a runc-style JSON error line in --log, with the size and the limit", async () => {
    const b = bundle("huge-log", { ...base, annotations: annotations(20_000) });
    const log = join(dir, "log.json");
    const r = await husk(["--root", root, "--log", log, "--log-format", "json", "create", "-b", b, "x"]);
    expect(r.code).toBe(1);
    const last = (await Bun.file(log).text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .at(-1);
    expect(last.level).toBe("error");
    expect(last.msg).toMatch(/config\.json is \d+ bytes, over the 4 MiB limit$/);
    nothingLeft();
  });

  test("annotations over 256 KiB in a config.json under 4 MiB: refused at once naming count and size", async () => {
    const b = bundle("annotations", { ...base, annotations: annotations(300) });
    const t = performance.now();
    const r = await husk(["--root", root, "create", "-b", b, "ann"]);
    expect(performance.now() - t).toBeLessThan(1000);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/annotations: 300 annotations of \d+ bytes \(keys and values\), over the 256 KiB limit/);
    nothingLeft();
  });

  test("a config.json nested 100,000 levels deep is refused before it is parsed", async () => {
    const deep = JSON.stringify(base).replace(/}$/, `,"x":${"[".repeat(100_000)}${"]".repeat(100_000)}}`);
    const r = await husk(["--root", root, "create", "-b", bundle("deep", deep), "deep"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/config\.json nests more than 64 levels deep, over the 64-level limit/);
    nothingLeft();
  });

  test("an environment over 512 KiB is refused naming the field", async () => {
    const env = Array.from({ length: 6 }, (_, i) => `V${i}=${"x".repeat(99_997)}`);
    const r = await husk(["--root", root, "create", "-b", bundle("env", { ...base, process: { ...base.process, env } }), "env"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("process.env: the environment is 600006 bytes, over the 512 KiB limit");
    nothingLeft();
  });

  test("--console-socket longer than a unix socket address, --pid-file name over NAME_MAX: usage errors (2)", async () => {
    const b = bundle("good", base);
    const sock = await husk(["--root", root, "create", "-b", b, "--console-socket", `/tmp/${"s".repeat(120)}`, "x"]);
    expect(sock.code).toBe(2);
    expect(sock.stderr).toContain("is 125 bytes long, over the 107-byte limit of a unix socket address");
    const pid = await husk(["--root", root, "create", "-b", b, "--pid-file", join(dir, "p".repeat(300)), "x"]);
    expect(pid.code).toBe(2);
    expect(pid.stderr).toContain("its name is 300 bytes long, over the 255-byte limit (NAME_MAX)");
    nothingLeft();
  });
});
