import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { PluginError } from "../../../src/host/errors.ts";
import { createLifecycle } from "../../../src/plugins/lifecycle.ts";
import { listPlugins } from "../../../src/plugins/list.ts";
import { loadPlugins } from "../../../src/plugins/loader.ts";
import { fixture, tempDir } from "./helpers.ts";

describe("plugin loader", () => {
  test("loads a plugin from a .ts file named in the config, options validated by its schema", async () => {
    const file = join(tempDir(), "rec");
    const [p] = await loadPlugins({
      config: { plugins: { record: { enabled: true, path: fixture("record.ts"), options: { file } } } },
      bundled: [],
    });
    expect(p).toMatchObject({ name: "record", source: "path", path: fixture("record.ts"), enabled: true, options: { file } });
  });

  test("serves husk/plugin to plugins imported from disk", async () => {
    const [p] = await loadPlugins({ config: { plugins: {} }, extraPluginPaths: [fixture("api-import.ts")], bundled: [] });
    expect(p?.name).toBe("api-import");
    expect(p?.options).toEqual({ greeting: "hello" });
  });

  test("invalid options: PluginError naming the plugin and the key", async () => {
    const err = await loadPlugins({
      config: { plugins: { record: { enabled: true, path: fixture("record.ts"), options: { file: 42 } } } },
      bundled: [],
    }).catch((e) => e);
    expect(err).toBeInstanceOf(PluginError);
    expect(err.message).toContain('plugin "record"');
    expect(err.message).toContain('"file"');
    expect(err.details).toMatchObject({ plugin: "record", key: "file" });
  });

  test("unknown option key (strict schema) names the key", async () => {
    const err = await loadPlugins({
      config: { plugins: { policy: { enabled: true, options: { refuse_privilegd: true } } } },
    }).catch((e) => e);
    expect(err).toBeInstanceOf(PluginError);
    expect(err.message).toContain('plugin "policy"');
    expect(err.message).toContain("refuse_privilegd");
  });

  test("missing file: PluginError naming the plugin and the path", async () => {
    const err = await loadPlugins({
      config: { plugins: { ghost: { enabled: true, path: "/nonexistent/ghost.ts", options: {} } } },
      bundled: [],
    }).catch((e) => e);
    expect(err).toBeInstanceOf(PluginError);
    expect(err.message).toContain('plugin "ghost"');
    expect(err.message).toContain("/nonexistent/ghost.ts");
  });

  test("no default export / not definePlugin: PluginError", async () => {
    for (const [f, why] of [
      ["no-default.ts", "no default export"],
      ["not-plugin.ts", "not a definePlugin"],
    ] as const) {
      const err = await loadPlugins({ config: { plugins: {} }, extraPluginPaths: [fixture(f)], bundled: [] }).catch((e) => e);
      expect(err).toBeInstanceOf(PluginError);
      expect(err.message).toContain(why);
      expect(err.message).toContain(fixture(f));
    }
  });

  test("a config name that does not match the module's name is refused", async () => {
    const err = await loadPlugins({
      config: { plugins: { other: { enabled: true, path: fixture("slow.ts"), options: {} } } },
      bundled: [],
    }).catch((e) => e);
    expect(err).toBeInstanceOf(PluginError);
    expect(err.message).toContain('named "slow"');
  });

  test("unknown plugin name without a path is refused", async () => {
    const err = await loadPlugins({ config: { plugins: { nosuch: { enabled: true, options: {} } } } }).catch((e) => e);
    expect(err).toBeInstanceOf(PluginError);
    expect(err.message).toContain('plugin "nosuch"');
  });

  test("a plugin loaded twice is refused", async () => {
    const err = await loadPlugins({
      config: { plugins: {} },
      extraPluginPaths: [fixture("slow.ts"), fixture("slow.ts")],
      bundled: [],
    }).catch((e) => e);
    expect(err).toBeInstanceOf(PluginError);
    expect(err.message).toContain("loaded twice");
  });

  test("a throwing setup: PluginError naming the plugin, from createLifecycle", async () => {
    const err = await createLifecycle({ config: { plugins: {} }, extraPluginPaths: [fixture("throw-setup.ts")], bundled: [] }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(PluginError);
    expect(err.message).toContain('plugin "throw-setup"');
    expect(err.message).toContain("license server");
  });
});

describe("listPlugins (husk plugins list --format json)", () => {
  test("bundled plugins, a config plugin and a --plugin path, with source, enabled and hooks", async () => {
    const file = join(tempDir(), "rec");
    const list = await listPlugins({
      config: {
        plugins: {
          network: { enabled: false, options: {} },
          record: { enabled: true, path: fixture("record.ts"), options: { file } },
        },
      },
      extraPluginPaths: [fixture("slow.ts")],
    });
    expect(list.map((p) => [p.name, p.source, p.enabled])).toEqual([
      ["policy", "bundled", true],
      ["storage", "bundled", true],
      ["network", "bundled", false],
      ["record", "path", true],
      ["slow", "path", true],
    ]);
    expect(list.find((p) => p.name === "policy")?.hooks).toEqual(["policy:sandbox", "policy:admit"]);
    expect(list.find((p) => p.name === "storage")?.hooks).toEqual(["storage:mount", "storage:unmount"]);
    expect(list.find((p) => p.name === "record")).toMatchObject({
      path: fixture("record.ts"),
      description: "records hook calls",
      hooks: ["sandbox:prestart", "container:prestart", "container:poststart", "container:poststop", "sandbox:poststop"],
    });
    // Listing runs no setup: the record plugin's setup would have written the file.
    expect(await Bun.file(file).exists()).toBe(false);
    // JSON-serialisable as the CLI prints it.
    expect(JSON.parse(JSON.stringify(list))).toEqual(list);
  });
});
