import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fixture, tempDir } from "../../unit/plugins/helpers.ts";

/**
 * The real executable: `husk --plugin PATH plugins list --format json`.
 * Needs dist/husk (`bun run build`); skipped visibly when it is not built.
 */
const HUSK = resolve(import.meta.dir, "../../../dist/husk");
const built = existsSync(HUSK);
if (!built) console.warn("skip: dist/husk plugin tests: run `bun run build` first");

describe.skipIf(!built)("dist/husk loads plugins", () => {
  test("plugins list --format json shows bundled plugins and a --plugin .ts file", () => {
    const r = Bun.spawnSync([HUSK, "--plugin", fixture("slow.ts"), "plugins", "list", "--format", "json"], { cwd: tempDir() });
    expect(r.exitCode).toBe(0);
    const list = JSON.parse(r.stdout.toString()) as { name: string; source: string; hooks: string[] }[];
    expect(list.map((p) => [p.name, p.source])).toEqual([
      ["policy", "bundled"],
      ["storage", "bundled"],
      ["network", "bundled"],
      ["slow", "path"],
    ]);
    expect(list[3]!.hooks).toEqual(["container:prestart"]);
  });

  test("a missing --plugin file fails with E_PLUGIN naming it", () => {
    const r = Bun.spawnSync([HUSK, "--plugin", "/nonexistent/p.ts", "plugins", "list", "--format", "json"], { cwd: tempDir() });
    expect(r.exitCode).not.toBe(0);
    const err = r.stderr.toString();
    expect(err).toContain("/nonexistent/p.ts");
    expect(err).toContain("no such file");
  });
});
