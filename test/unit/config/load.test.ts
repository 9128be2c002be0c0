import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, parseConfigText, resolveConfigPath } from "../../../src/config/load.ts";
import { DEFAULT_CONFIG_PATH, DEFAULT_ROOT } from "../../../src/config/schema.ts";

/** The husk configuration file: defaults, file, overrides, and clear E_CONFIG errors naming the key. */

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "husk-config-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function configError(fn: () => unknown): Error & { code: string; details: Record<string, unknown> } {
  try {
    fn();
  } catch (e) {
    return e as Error & { code: string; details: Record<string, unknown> };
  }
  throw new Error("expected an error");
}

describe("loadConfig", () => {
  test("an empty file gives every default", () => {
    const defaults = parseConfigText("", "defaults");
    expect(defaults.runtime).toEqual({ root: DEFAULT_ROOT });
    expect(defaults.hypervisor).toMatchObject({ vcpus: 1, memory_mib: 512, machine: "microvm", accelerator: "auto", kernel_params: [] });
    expect(defaults.agent).toEqual({ debug: false });
    expect(defaults.plugins).toEqual({});
  });

  const defaultExists = existsSync(DEFAULT_CONFIG_PATH);
  if (defaultExists) console.warn(`SKIP: ${DEFAULT_CONFIG_PATH} exists on this machine; the missing-default test needs it absent`);
  test.skipIf(defaultExists)("no file at the default path: defaults, no error", () => {
    expect(loadConfig({ env: {} })).toEqual(parseConfigText("", "defaults"));
  });

  test("path precedence: --config, then HUSK_CONFIG, then the default", () => {
    expect(resolveConfigPath({ path: "/a", env: { HUSK_CONFIG: "/b" } })).toEqual({ path: "/a", explicit: true });
    expect(resolveConfigPath({ env: { HUSK_CONFIG: "/b" } })).toEqual({ path: "/b", explicit: true });
    expect(resolveConfigPath({ env: {} })).toEqual({ path: DEFAULT_CONFIG_PATH, explicit: false });
  });

  test("reads a file and applies overrides over it", () => {
    const p = file(
      "good.toml",
      `[hypervisor]\nvcpus = 2\nmemory_mib = 1024\nkernel_params = ["quiet"]\n[runtime]\nroot = "/tmp/x"\n[plugins.policy]\noptions = { deny = ["a"] }\n`,
    );
    const cfg = loadConfig({ path: p, overrides: { runtime: { root: "/tmp/y" } } });
    expect(cfg.hypervisor).toMatchObject({ vcpus: 2, memory_mib: 1024, kernel_params: ["quiet"], machine: "microvm" });
    expect(cfg.runtime.root).toBe("/tmp/y");
    expect(cfg.plugins.policy).toEqual({ enabled: true, options: { deny: ["a"] } });
    expect(loadConfig({ env: { HUSK_CONFIG: p } }).hypervisor.vcpus).toBe(2);
  });

  test("a missing explicit file is E_CONFIG", () => {
    const err = configError(() => loadConfig({ path: join(dir, "absent.toml") }));
    expect(err.code).toBe("E_CONFIG");
    expect(err.message).toContain("absent.toml");
  });

  test("malformed TOML → E_CONFIG with the parser's message and the file", () => {
    const p = file("bad.toml", "[hypervisor\nvcpus = 2\n");
    const err = configError(() => loadConfig({ path: p }));
    expect(err.code).toBe("E_CONFIG");
    expect(err.message).toContain(p);
    expect(err.message).toContain("malformed TOML");
  });

  test("an unknown key → E_CONFIG naming the key", () => {
    const p = file("unknown.toml", "[hypervisor]\nvcpu = 2\n");
    const err = configError(() => loadConfig({ path: p }));
    expect(err.code).toBe("E_CONFIG");
    expect(err.message).toBe(`${p}: hypervisor.vcpu: unknown key`);
    expect(err.details.key).toBe("hypervisor.vcpu");
    const top = configError(() => loadConfig({ path: file("top.toml", "color = true\n") }));
    expect(top.message).toContain("color: unknown key");
  });

  test("a wrong type → E_CONFIG naming the key and what was expected", () => {
    const p = file("type.toml", `[hypervisor]\nvcpus = "two"\n`);
    const err = configError(() => loadConfig({ path: p }));
    expect(err.code).toBe("E_CONFIG");
    expect(err.message).toContain("hypervisor.vcpus: ");
    expect(err.message).toContain("Expected number");
    expect(err.details.file).toBe(p);
  });

  test("a bad value → E_CONFIG naming the key", () => {
    expect(configError(() => parseConfigText(`[hypervisor]\naccelerator = "xen"\n`, "f")).message).toContain("hypervisor.accelerator");
    expect(configError(() => parseConfigText(`[runtime]\nroot = "relative"\n`, "f")).message).toBe(
      "f: runtime.root: must be an absolute path",
    );
    expect(configError(() => parseConfigText(`[hypervisor]\nmemory_mib = 1\n`, "f")).message).toContain("hypervisor.memory_mib");
    expect(configError(() => parseConfigText(`[plugins.x]\nenabeld = true\n`, "f")).message).toContain("plugins.x.enabeld: unknown key");
  });
});
