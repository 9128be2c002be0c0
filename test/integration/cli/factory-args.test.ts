import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { haveBinary, husk } from "./helpers.ts";

/** `husk factory` refuses bad input with a usage error (JSON with --format json) before it touches anything. */

describe.skipIf(!haveBinary)("husk factory: bad input", () => {
  test("bad sizes, NIC counts, a relative directory or a bad --format: E_USAGE, exit 2, nothing made", async () => {
    const dir = mkdtempSync(join(tmpdir(), "husk-factory-args-"));
    const factory = join(dir, "f");
    try {
      for (const args of [
        ["--vcpus", "two"],
        ["--vcpus", "0"],
        ["--memory", "32"],
        ["--memory", "-1"],
        ["--nics", "17"],
        ["--nics", "1.5"],
      ]) {
        const r = await husk(["factory", "init", "--format", "json", "--factory-dir", factory, ...args]);
        expect(r.code).toBe(2);
        expect(JSON.parse(r.stdout).error.code).toBe("E_USAGE");
      }
      const rel = await husk(["factory", "status", "--format", "json", "--factory-dir", "relative/dir"]);
      expect(rel.code).toBe(2);
      expect(JSON.parse(rel.stdout).error.message).toMatch(/absolute/);
      const fmt = await husk(["factory", "status", "--format", "yaml", "--factory-dir", factory]);
      expect(fmt.code).toBe(2);
      expect(existsSync(factory)).toBe(false);
      // status of a directory that does not exist (yet): no templates, nothing created.
      const st = await husk(["factory", "status", "--factory-dir", factory]);
      expect(st.code).toBe(0);
      expect(JSON.parse(st.stdout)).toMatchObject({ dir: factory, templates: [], building: [] });
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
