import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { haveBinary, husk } from "./helpers.ts";

/** debug-console's refusals that need no VM: disabled by default, unknown and invalid ids. */
describe.skipIf(!haveBinary)("debug-console without a VM", () => {
  const dir = mkdtempSync(join(tmpdir(), "husk-dbg-cli-"));
  const root = join(dir, "root");
  const off = join(dir, "off.toml");
  const on = join(dir, "on.toml");
  writeFileSync(off, "");
  writeFileSync(on, "[debug]\nconsole = true\n");
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const error = async (config: string, id: string) => {
    const r = await husk(["--root", root, "--config", config, "debug-console", "--format", "json", id]);
    expect(r.code).toBe(1);
    return JSON.parse(r.stdout).error as { code: string; message: string };
  };

  test("off unless [debug] console = true: E_DISABLED, before looking at the id", async () => {
    const e = await error(off, "anything");
    expect(e.code).toBe("E_DISABLED");
    expect(e.message).toContain("root shell in the guest");
  });
  test("an unknown id is E_NOT_FOUND, a malformed one E_INVALID_ID", async () => {
    expect(await error(on, "nosuch")).toMatchObject({ code: "E_NOT_FOUND", message: "no sandbox or container nosuch" });
    expect((await error(on, "../x")).code).toBe("E_INVALID_ID");
  });
});
