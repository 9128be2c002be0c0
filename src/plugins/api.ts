/**
 * What a plugin imports: `import { definePlugin, v } from "husk/plugin"`.
 * The binary serves this module to plugins it loads from disk (see
 * ./virtual-module.ts), so an external plugin needs neither husk's sources nor
 * its own copy of valibot; the bundled plugins import this file directly.
 */
export { definePlugin } from "./define.ts";
export * as v from "valibot";
export type * from "./types.ts";
export { PLUGIN_AGENT_METHODS, PLUGIN_HOOK_NAMES } from "./types.ts";
export { HuskError, InvalidSpecError, NotFoundError, PluginError, PolicyError, UnsupportedError } from "../host/errors.ts";
