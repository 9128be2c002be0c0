import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { haveBinary, husk } from "./helpers.ts";

/**
 * Bad input through the compiled binary: each answers with a clear message,
 * a non-zero status, and leaves nothing under --root. None of these reach a
 * VM, so they run anywhere.
 */

let dir: string;
let root: string;
const bundle = (name: string) => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "husk-cli-bad-"));
  root = join(dir, "root");
  for (const b of ["good", "notjson", "badspec", "norootfs"]) mkdirSync(join(dir, b));
  mkdirSync(join(dir, "good", "rootfs"));
  mkdirSync(join(dir, "notjson", "rootfs"));
  mkdirSync(join(dir, "badspec", "rootfs"));
  const spec = { ociVersion: "1.0.2", process: { user: { uid: 0, gid: 0 }, cwd: "/", args: ["true"] }, root: { path: "rootfs" } };
  writeFileSync(join(dir, "good", "config.json"), JSON.stringify(spec));
  writeFileSync(join(dir, "notjson", "config.json"), "{ this is not json");
  writeFileSync(join(dir, "badspec", "config.json"), JSON.stringify({ ...spec, process: { ...spec.process, args: [] } }));
  writeFileSync(join(dir, "norootfs", "config.json"), JSON.stringify(spec));
  writeFileSync(join(dir, "plainfile"), "");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const nothingLeft = () => {
  let entries: string[] = [];
  try {
    entries = readdirSync(root, { recursive: true }) as string[];
  } catch {
    // no root at all: nothing left either
  }
  expect(entries.filter((e) => !e.endsWith("lock"))).toEqual([]);
};

const cases: [string, string[], RegExp, number][] = [
  ["unknown command", ["frobnicate"], /Unknown command frobnicate/, 2],
  ["unknown global flag", ["--frob", "list"], /flag provided but not defined: --frob/, 2],
  ["unknown command flag", ["create", "--frob", "x"], /flag provided but not defined: --frob/, 2],
  ["missing id", ["create"], /Missing required positional argument: ID/, 2],
  ["missing bundle", ["create", "--bundle", "/nonexistent/bundle", "x"], /bundle \/nonexistent\/bundle not found/, 1],
  ["config.json not JSON", ["create", "-b", "@notjson", "x"], /config\.json: not valid JSON/, 1],
  [
    "config.json not a valid spec (JSON path)",
    ["create", "-b", "@badspec", "x"],
    /config\.json: process\.args: process\.args must not be empty/,
    1,
  ],
  ["rootfs missing", ["create", "-b", "@norootfs", "x"], /rootfs .* does not exist/, 1],
  ["id with /", ["create", "-b", "@good", "a/b"], /invalid container id "a\/b"/, 1],
  ["id with ..", ["create", "-b", "@good", "a..b"], /invalid container id "a\.\.b"/, 1],
  ["console socket not a socket", ["create", "-b", "@good", "--console-socket", "@plainfile", "x"], /is not a unix socket/, 2],
  ["unknown signal", ["kill", "x", "SIGFROB"], /unknown signal "SIGFROB"/, 2],
  ["state of a missing container", ["state", "nope"], /container nope not found/, 1],
  ["start of a missing container", ["start", "nope"], /container nope not found/, 1],
  ["bad --log-format", ["--log-format", "xml", "list"], /--log-format must be text or json/, 2],
  ["bad --format", ["list", "--format", "yaml"], /invalid --format "yaml"/, 2],
  ["preserve-fds cannot cross into a VM", ["create", "-b", "@good", "--preserve-fds", "2", "x"], /cannot be passed into the VM/, 1],
  ["unknown command with -h (runc: non-zero)", ["frobnicate", "-h"], /unknown command "frobnicate"/, 2],
  ["unknown subcommand with --help", ["image", "frob", "--help"], /unknown command "frob"/, 2],
  [
    "--pid-file in a missing directory: named, before anything is created",
    ["create", "-b", "@good", "--pid-file", "/nonexistent/dir/x.pid", "x"],
    /cannot write pid file \/nonexistent\/dir\/x\.pid: directory \/nonexistent\/dir does not exist/,
    1,
  ],
  ["exec in a missing container exits 255, as runc", ["exec", "nope", "true"], /container nope not found/, 255],
  [
    "exec --cgroup leaving the container's cgroup (255, as runc)",
    ["exec", "--cgroup", "..", "nope", "true"],
    /exec --cgroup \.\.: not a sub-cgroup of the container's cgroup/,
    255,
  ],
  [
    "exec --cgroup naming a sub-cgroup (255, as runc's failed exec)",
    ["exec", "--cgroup", "nonexistent", "nope", "true"],
    /sub-cgroup is not supported/,
    255,
  ],
  ["ps with an option a VM cannot answer", ["ps", "nope", "-l"], /ps: option -l is not supported/, 1],
  ["ps of a missing container", ["ps", "nope", "-e", "-x"], /container nope not found/, 1],
  ["kill -a of a missing container (signal 0)", ["kill", "-a", "nope", "0"], /container nope not found/, 1],
];

describe.skipIf(!haveBinary)("bad input", () => {
  for (const [name, args, message, code] of cases) {
    test(name, async () => {
      const argv = args.map((a) => (a.startsWith("@") ? bundle(a.slice(1)) : a));
      const r = await husk(["--root", root, ...argv]);
      expect(r.code).toBe(code);
      expect(r.stderr).toMatch(/^husk: /);
      expect(r.stderr).toMatch(message);
      nothingLeft();
    });
  }

  test("--format json errors are JSON on stdout", async () => {
    const r = await husk(["--root", root, "ps", "--format", "json", "nope"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({
      error: { code: "E_NOT_FOUND", message: "container nope not found", details: { containerId: "nope" } },
    });
  });

  test("--log-format json writes runc-style error lines to --log", async () => {
    const log = join(dir, "log.json");
    const r = await husk(["--root", root, "--log", log, "--log-format", "json", "state", "nope"]);
    expect(r.code).toBe(1);
    const lines = readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const last = lines.at(-1);
    expect(last).toMatchObject({ level: "error", msg: "container nope not found" });
    expect(Date.parse(last.time)).not.toBeNaN();
  });

  test("delete --force of a missing container succeeds, as with runc", async () => {
    const r = await husk(["--root", root, "delete", "--force", "nope"]);
    expect(r.code).toBe(0);
  });
});
