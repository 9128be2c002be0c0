import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as v from "valibot";
import { SpecSchema } from "../../../src/oci/spec.ts";
import { haveBinary, husk } from "./helpers.ts";

/** Commands that need no VM, through the compiled binary. */

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "husk-cli-cmd-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!haveBinary)("commands without a VM", () => {
  test("--version prints version, commit and spec like runc", async () => {
    const r = await husk(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^husk version \d+\.\d+\.\d+\ncommit: \S+\nspec: 1\.\d+\.\d+\n/);
    expect((await husk(["version"])).stdout).toBe(r.stdout);
  });

  for (const rootless of [false, true]) {
    test(`spec${rootless ? " --rootless" : ""} writes a config.json that validates`, async () => {
      const b = mkdtempSync(join(dir, "spec-"));
      const r = await husk(["spec", "--bundle", b, ...(rootless ? ["--rootless"] : [])]);
      expect(r.code).toBe(0);
      const spec = JSON.parse(readFileSync(join(b, "config.json"), "utf8"));
      const parsed = v.safeParse(SpecSchema, spec);
      expect(parsed.success).toBe(true);
      expect(spec.root).toEqual({ path: "rootfs", readonly: true });
      const ns = spec.linux.namespaces.map((n: { type: string }) => n.type);
      expect(ns.includes("user")).toBe(rootless);
      expect(ns.includes("network")).toBe(!rootless);
      // a second spec refuses to overwrite
      const again = await husk(["spec", "--bundle", b]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain("exists");
    });
  }

  test("features prints runc's features shape", async () => {
    const r = await husk(["features"]);
    expect(r.code).toBe(0);
    const f = JSON.parse(r.stdout);
    expect(f.ociVersionMin).toBe("1.0.0");
    expect(f.hooks).toContain("createRuntime");
    expect(f.linux.namespaces).toContain("pid");
    expect(f.linux.cgroup.v2).toBe(true);
    expect(f.mountOptions).toContain("rbind");
  });

  test("list --format json on an empty root is []", async () => {
    const r = await husk(["--root", join(dir, "empty-root"), "list", "--format", "json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([]);
  });

  test("config show --format json prints the effective config, --root applied", async () => {
    const r = await husk(["--root", "/tmp/husk-x", "config", "show", "--format", "json"]);
    expect(r.code).toBe(0);
    const c = JSON.parse(r.stdout);
    expect(c.runtime.root).toBe("/tmp/husk-x");
    expect(c.hypervisor.machine).toBeString();
  });

  test("a config file with an unknown key is refused", async () => {
    const cfg = join(dir, "bad.toml");
    await Bun.write(cfg, "[hypervisor]\nmachin = 'q35'\n");
    const r = await husk(["--config", cfg, "config", "show"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("hypervisor.machin");
  });

  test("check and env answer in JSON", async () => {
    const check = await husk(["check", "--format", "json"]);
    const c = JSON.parse(check.stdout);
    expect(typeof c.ok).toBe("boolean");
    expect(check.code).toBe(c.ok ? 0 : 1);
    expect(c.checks.map((x: { name: string }) => x.name)).toContain("qemu");
    const env = await husk(["env", "--format", "json"]);
    expect(env.code).toBe(0);
    expect(JSON.parse(env.stdout)).toMatchObject({ ociVersion: expect.any(String), root: expect.any(String) });
  });

  test("plugins list --format json lists the bundled plugins", async () => {
    const r = await husk(["plugins", "list", "--format", "json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(["policy", "storage", "network"]));
  });

  test("hidden commands stay out of --help", async () => {
    const r = await husk(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("create");
    expect(r.stdout).not.toMatch(/\bshim\b|\bmonitor\b|\bagent\b/);
  });
});
