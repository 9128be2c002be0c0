import { realRuntime, type Runtime, type RuntimeOptions } from "../../runtime/context.ts";
import { globals, globalsToArgv } from "../globals.ts";
import { cliConfig } from "./config.ts";

let cached: Promise<Runtime> | undefined;

/** The real runtime for this CLI call, built once from the global flags and the config file. */
export function cliRuntime(options: Pick<RuntimeOptions, "tolerateBrokenPlugins" | "stdioFor"> = {}): Promise<Runtime> {
  const g = globals();
  cached ??= realRuntime({
    ...options,
    config: cliConfig(),
    globalArgs: globalsToArgv(g),
    ...(g.plugins ? { pluginPaths: g.plugins } : {}),
    debug: g.debug === true,
  });
  return cached;
}
