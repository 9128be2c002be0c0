import { resolve } from "node:path";
import { PluginError } from "../host/errors.ts";
import { logger } from "../host/log.ts";
import type { HuskConfig } from "../config/schema.ts";
import { BUNDLED_PLUGINS } from "./bundled.ts";
import { isPlugin } from "./define.ts";
import type { LoadedPlugin } from "./loaded.ts";
import { validateOptions } from "./options.ts";
import { PLUGIN_HOOK_NAMES, type AnyPlugin } from "./types.ts";
import { registerPluginApiModule } from "./virtual-module.ts";

const log = logger("plugins");
const NAME = /^[a-z][a-z0-9_-]{0,63}$/;

export interface LoadPluginsInput {
  config: Pick<HuskConfig, "plugins">;
  /** `--plugin PATH` (repeatable): loaded and enabled; options from [plugins.<its name>] if present. */
  extraPluginPaths?: readonly string[];
  /** Replace the bundled set (tests). */
  bundled?: readonly AnyPlugin[];
}

/**
 * Everything the configuration asks for, in run order: bundled plugins, then
 * [plugins.<name>] entries with a path, then --plugin paths. Validates options;
 * does not run setup (listing must have no side effects; see ./host.ts).
 */
export async function loadPlugins(input: LoadPluginsInput): Promise<LoadedPlugin[]> {
  const entries = input.config.plugins ?? {};
  const bundled = input.bundled ?? BUNDLED_PLUGINS;
  const out: LoadedPlugin[] = [];
  const seen = new Set<string>();
  const add = (p: LoadedPlugin) => {
    if (seen.has(p.name)) {
      throw new PluginError(`plugin "${p.name}" is loaded twice${p.path ? ` (again from ${p.path})` : ""}`, {
        details: { plugin: p.name, path: p.path },
      });
    }
    seen.add(p.name);
    out.push(p);
  };

  for (const plugin of bundled) {
    const entry = entries[plugin.name];
    if (entry?.path) continue; // a path overrides the bundled plugin of that name
    const enabled = entry?.enabled ?? true;
    add({ name: plugin.name, source: "bundled", enabled, plugin, options: enabled ? validateOptions(plugin, entry?.options) : {} });
  }
  for (const [name, entry] of Object.entries(entries)) {
    if (!entry.path) {
      if (!bundled.some((b) => b.name === name)) {
        throw new PluginError(`plugin "${name}": not bundled and no path given in [plugins.${name}]`, { details: { plugin: name } });
      }
      continue;
    }
    const path = resolve(entry.path);
    if (!entry.enabled) {
      add({ name, source: "path", path, enabled: false, options: {} });
      continue;
    }
    const plugin = await importPlugin(path, name);
    if (plugin.name !== name) {
      throw new PluginError(`plugin "${name}": ${path} defines a plugin named "${plugin.name}"`, {
        details: { plugin: name, path },
      });
    }
    add({ name, source: "path", path, enabled: true, plugin, options: validateOptions(plugin, entry.options) });
  }
  for (const p of input.extraPluginPaths ?? []) {
    const path = resolve(p);
    const plugin = await importPlugin(path);
    add({
      name: plugin.name,
      source: "path",
      path,
      enabled: true,
      plugin,
      options: validateOptions(plugin, entries[plugin.name]?.options),
    });
  }
  return out;
}

/** import() a plugin module from disk and check what it exports. */
export async function importPlugin(path: string, expectedName?: string): Promise<AnyPlugin> {
  const who = expectedName ? `plugin "${expectedName}" (${path})` : `plugin ${path}`;
  if (!(await Bun.file(path).exists())) {
    throw new PluginError(`${who}: no such file`, { details: { plugin: expectedName, path } });
  }
  registerPluginApiModule();
  log.debug(`importing plugin ${path}`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(path)) as Record<string, unknown>;
  } catch (e) {
    throw new PluginError(`${who}: cannot import: ${(e as Error).message ?? e}`, {
      cause: e,
      details: { plugin: expectedName, path },
    });
  }
  const def = mod.default;
  if (def === undefined) {
    throw new PluginError(`${who}: no default export (export default definePlugin({...}))`, {
      details: { plugin: expectedName, path },
    });
  }
  if (!isPlugin(def)) {
    throw new PluginError(`${who}: the default export is not a definePlugin(...) result`, {
      details: { plugin: expectedName, path },
    });
  }
  checkShape(def, path);
  return def;
}

function checkShape(p: AnyPlugin, path: string): void {
  const bad = (why: string) =>
    new PluginError(`plugin ${JSON.stringify(p.name ?? "?")} (${path}): ${why}`, { details: { plugin: p.name, path } });
  if (typeof p.name !== "string" || !NAME.test(p.name)) throw bad(`name must match ${NAME}`);
  if (typeof p.hooks !== "object" || p.hooks === null) throw bad("hooks must be an object");
  for (const [k, fn] of Object.entries(p.hooks)) {
    if (!KNOWN_HOOKS.has(k)) throw bad(`unknown hook "${k}"`);
    if (typeof fn !== "function") throw bad(`hook "${k}" is not a function`);
  }
}

const KNOWN_HOOKS: ReadonlySet<string> = new Set(PLUGIN_HOOK_NAMES);
