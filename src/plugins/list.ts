import { hookNames } from "./loaded.ts";
import { loadPlugins, type LoadPluginsInput } from "./loader.ts";
import type { PluginHookName } from "./types.ts";

/** One row of `husk plugins list --format json`. */
export interface PluginListEntry {
  name: string;
  source: "bundled" | "path";
  /** The file, for source "path". */
  path?: string;
  enabled: boolean;
  description?: string;
  /** Hooks the plugin registers (empty for a disabled plugin loaded from a path: it is not imported). */
  hooks: PluginHookName[];
}

/**
 * What is loaded, from where, with which hooks. Loads and validates exactly as
 * createLifecycle does (so a broken plugin errors here too) but runs no setup.
 */
export async function listPlugins(input: LoadPluginsInput): Promise<PluginListEntry[]> {
  const loaded = await loadPlugins(input);
  return loaded.map((p) => ({
    name: p.name,
    source: p.source,
    ...(p.path ? { path: p.path } : {}),
    enabled: p.enabled,
    ...(p.plugin?.description ? { description: p.plugin.description } : {}),
    hooks: hookNames(p),
  }));
}
