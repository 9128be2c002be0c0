import { PluginError } from "../host/errors.ts";
import { jsonShapeProblem, LIMITS } from "../oci/limits.ts";
import { issuePath, parseOr } from "../host/valid.ts";
import type { AnyPlugin } from "./types.ts";

/**
 * Validate `[plugins.<name>].options` with the plugin's own schema; the error
 * names the plugin and the key. Bounded first (docs/limits.md): a plugin's
 * schema never sees options deeper or larger than the limits.
 */
export function validateOptions(plugin: AnyPlugin, raw: Record<string, unknown> | undefined): unknown {
  const input = raw ?? {};
  const problem = jsonShapeProblem(input, LIMITS.pluginOptionsBytes, `[plugins.${plugin.name}].options`);
  if (problem) {
    throw new PluginError(`plugin "${plugin.name}": ${problem}`, {
      details: { plugin: plugin.name, limit: LIMITS.pluginOptionsBytes, depthLimit: LIMITS.jsonDepth },
    });
  }
  if (!plugin.options) {
    const keys = Object.keys(input);
    if (keys.length) {
      throw new PluginError(`plugin "${plugin.name}": takes no options, got "${keys[0]}"`, {
        details: { plugin: plugin.name, key: keys[0] },
      });
    }
    return {};
  }
  return parseOr(plugin.options, input, ({ path, message, issues }) => {
    const key = path || "(options)";
    return new PluginError(`plugin "${plugin.name}": invalid option "${key}": ${message}`, {
      details: { plugin: plugin.name, key, issues: issues.map((i) => ({ key: issuePath(i), message: i.message })) },
    });
  });
}
