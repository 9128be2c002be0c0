import { readFileSync } from "node:fs";
import * as v from "valibot";
import { ConfigError } from "../host/errors.ts";
import { logger } from "../host/log.ts";
import { issuePath } from "../host/valid.ts";
import { DEFAULT_CONFIG_PATH, HuskConfigSchema, type HuskConfig } from "./schema.ts";

/**
 * Load the husk configuration: TOML (Bun.TOML) validated by HuskConfigSchema.
 * Path: explicit (--config) > HUSK_CONFIG > /etc/husk/config.toml. A missing
 * default file means defaults; a missing explicit file is an error.
 */

const log = logger("config");

export interface LoadConfigOptions {
  /** --config; wins over HUSK_CONFIG. */
  path?: string;
  /** Applied over the file (e.g. --root from the command line), same shape as the file. */
  overrides?: Record<string, unknown>;
  /** Defaults to process.env (for HUSK_CONFIG). */
  env?: Record<string, string | undefined>;
}

export interface ResolvedConfigPath {
  path: string;
  explicit: boolean;
}

export function resolveConfigPath(options: LoadConfigOptions = {}): ResolvedConfigPath {
  const env = options.env ?? process.env;
  if (options.path) return { path: options.path, explicit: true };
  if (env.HUSK_CONFIG) return { path: env.HUSK_CONFIG, explicit: true };
  return { path: DEFAULT_CONFIG_PATH, explicit: false };
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Deep merge of plain objects; arrays and scalars in `over` replace. */
export function mergeConfig(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, val] of Object.entries(over)) {
    if (val === undefined) continue;
    const cur = out[k];
    out[k] = isPlainObject(cur) && isPlainObject(val) ? mergeConfig(cur, val) : val;
  }
  return out;
}

/** Validate a parsed document; `source` names the file in errors. */
export function parseConfig(doc: unknown, source: string): HuskConfig {
  const result = v.safeParse(HuskConfigSchema, doc);
  if (result.success) return result.output;
  const problems = result.issues.map((issue) => {
    const key = issuePath(issue) || "(top level)";
    // valibot reports an unknown key of a strict object with the key in the path.
    const message = issue.type === "strict_object" ? "unknown key" : issue.message;
    return { key, message };
  });
  const first = problems[0] as { key: string; message: string };
  throw new ConfigError(`${source}: ${problems.map((p) => `${p.key}: ${p.message}`).join("; ")}`, {
    details: { file: source, key: first.key, problems },
  });
}

export function parseConfigText(text: string, source: string, overrides: Record<string, unknown> = {}): HuskConfig {
  let doc: unknown;
  try {
    doc = Bun.TOML.parse(text);
  } catch (e) {
    // Bun's parser positions are not reliable (they count from its own buffer): keep its message only.
    throw new ConfigError(`${source}: malformed TOML: ${(e as Error).message}`, { cause: e, details: { file: source } });
  }
  return parseConfig(mergeConfig(doc as Record<string, unknown>, overrides), source);
}

export function loadConfig(options: LoadConfigOptions = {}): HuskConfig {
  const { path, explicit } = resolveConfigPath(options);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && !explicit) {
      log.debug(`no ${path}: using defaults`);
      return parseConfig(options.overrides ?? {}, "defaults");
    }
    throw new ConfigError(`cannot read configuration file ${path}: ${(e as Error).message}`, {
      cause: e,
      details: { file: path },
    });
  }
  log.debug(`loaded ${path}`);
  return parseConfigText(text, path, options.overrides ?? {});
}
