import { PLUGIN_BRAND, type AnyPlugin, type AnySchema, type Plugin, type PluginDefinition } from "./types.ts";

/**
 * Declare a plugin. Identity plus a brand (a global symbol, so a plugin that
 * got definePlugin from another copy of this module still passes), which lets
 * the loader refuse a module whose default export is some other object.
 */
export function definePlugin<S extends AnySchema | undefined = undefined>(def: PluginDefinition<S>): Plugin<S> {
  return Object.assign(def, { [PLUGIN_BRAND]: true as const });
}

export function isPlugin(x: unknown): x is AnyPlugin {
  return typeof x === "object" && x !== null && (x as Record<symbol, unknown>)[PLUGIN_BRAND] === true;
}
