import { loadConfig, resolveConfigPath } from "../../config/load.ts";
import type { HuskConfig } from "../../config/schema.ts";
import { globals } from "../globals.ts";

/** The effective configuration: --config (or HUSK_CONFIG, or the default file) with --root over it. */
export function cliConfig(): HuskConfig {
  const g = globals();
  return loadConfig({
    ...(g.config ? { path: g.config } : {}),
    ...(g.root ? { overrides: { runtime: { root: g.root } } } : {}),
  });
}

export function cliConfigPath(): string {
  const g = globals();
  return resolveConfigPath(g.config ? { path: g.config } : {}).path;
}
