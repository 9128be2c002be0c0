/** The plugin host's public surface, for the CLI and the core. */
export { createLifecycle, lifecycleFor, type CreateLifecycleInput } from "./lifecycle.ts";
export { listPlugins, type PluginListEntry } from "./list.ts";
export { loadPlugins, importPlugin, type LoadPluginsInput } from "./loader.ts";
export { definePlugin, isPlugin } from "./define.ts";
export { PluginHost } from "./host.ts";
export type * from "./types.ts";
