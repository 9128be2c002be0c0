import type { AnyPlugin, PluginHookName } from "./types.ts";

/** A plugin after loading: where it came from, whether it runs, its validated options. */
export interface LoadedPlugin {
  name: string;
  source: "bundled" | "path";
  /** The file it was imported from (source "path"). */
  path?: string;
  enabled: boolean;
  /** Absent for a disabled external plugin (its file is not imported). */
  plugin?: AnyPlugin;
  /** The options as the plugin's schema output them. */
  options: unknown;
}

/** Hook names a loaded plugin registers, in the canonical order. */
export function hookNames(p: LoadedPlugin): PluginHookName[] {
  return p.plugin ? (Object.keys(p.plugin.hooks) as PluginHookName[]).filter((k) => p.plugin!.hooks[k]) : [];
}
