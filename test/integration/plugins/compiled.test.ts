import { beforeAll, describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { fixture, tempDir } from "../../unit/plugins/helpers.ts";

/**
 * A standalone executable (`bun build --compile`) imports plugins from .ts
 * files on disk, including one that imports "husk/plugin" (served by the
 * binary). Uses a small entry rather than dist/husk so it does not depend on
 * the CLI building; dist/husk uses the same loader.
 */
const ROOT = resolve(import.meta.dir, "../../..");
const BUN = join(ROOT, "node_modules/.bin/bun");
let exe = "";

describe("plugins in a compiled binary", () => {
  beforeAll(async () => {
    exe = join(tempDir("husk-compiled-"), "entry");
    const r = Bun.spawnSync([BUN, "build", "--compile", fixture("compiled-entry.ts"), "--outfile", exe], { cwd: ROOT });
    if (r.exitCode !== 0) throw new Error(`bun build --compile failed: ${r.stderr.toString()}`);
  }, 180_000);

  test("imports .ts plugins from disk, validates options, runs their hooks", async () => {
    // Run from another directory so nothing resolves against the repository by accident.
    const r = Bun.spawnSync([exe, fixture("api-import.ts"), fixture("slow.ts")], { cwd: tempDir() });
    expect(r.exitCode).toBe(1); // slow's prestart times out: proves the hook ran under the host's timeout
    expect(r.stderr.toString()).toContain('plugin "slow": hook "container:prestart" timed out');

    const ok = Bun.spawnSync([exe, fixture("api-import.ts")], { cwd: tempDir() });
    expect(ok.stderr.toString()).toBe("");
    expect(ok.exitCode).toBe(0);
    const out = JSON.parse(ok.stdout.toString());
    expect(out.list).toEqual([
      { name: "api-import", source: "path", path: fixture("api-import.ts"), enabled: true, hooks: ["container:prestart"] },
    ]);
    expect(out.annotations).toEqual({ "test.husk/greeting": "hello" });
  });

  test("a plugin importing husk's sources instead of husk/plugin fails clearly (the binary has no node_modules)", () => {
    const r = Bun.spawnSync([exe, fixture("throw-prestart.ts")], { cwd: tempDir() });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr.toString()).toContain(`plugin ${fixture("throw-prestart.ts")}: cannot import`);
  });

  test("a missing plugin file is a clear error from the binary", () => {
    const r = Bun.spawnSync([exe, "/nonexistent/p.ts"], { cwd: tempDir() });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr.toString()).toContain("/nonexistent/p.ts: no such file");
  });
});
