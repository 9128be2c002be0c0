import type { ArgsDef } from "citty";
import { UsageError } from "../host/errors.ts";

/**
 * runc's global flags, which come before the command
 * (`husk --root R --log F --log-format json create ...`). Parsed by hand,
 * before any other module loads, so that logging is configured before
 * subsystems create their tagged loggers (consola children copy the level
 * and reporters of their parent when they are created).
 */
export interface GlobalOptions {
  root?: string;
  log?: string;
  logFormat: "text" | "json";
  debug: boolean;
  systemdCgroup: boolean;
  rootless?: string;
  config?: string;
  plugins: string[];
  help: boolean;
  version: boolean;
}

/**
 * The one table of global flags: parseGlobals reads it, and the root command
 * shows it in `husk --help` (../cli/root.ts), in this order.
 */
export const GLOBAL_FLAGS = {
  root: { type: "string", description: "root directory for state (default /run/husk)" },
  log: { type: "string", description: "write logs to this file (default stderr)" },
  "log-format": { type: "string", description: "log format: text or json" },
  debug: { type: "boolean", description: "enable debug logging" },
  "systemd-cgroup": { type: "boolean", description: "accepted for runc compatibility (cgroups live in the guest)" },
  rootless: { type: "string", description: "accepted for runc compatibility (true|false|auto)" },
  config: { type: "string", description: "husk configuration file (default /etc/husk/config.toml)" },
  plugin: { type: "string", description: "load a TypeScript plugin (repeatable)" },
  version: { type: "boolean", alias: "v", description: "print the version" },
} as const satisfies ArgsDef;

/** Accepted but not listed: --help (citty lists it itself) and --criu (runc's; checkpointing is not supported). */
const UNLISTED_FLAGS = {
  help: { type: "boolean", alias: "h" },
  criu: { type: "string" },
} as const satisfies ArgsDef;

const ALL_FLAGS: ArgsDef = { ...GLOBAL_FLAGS, ...UNLISTED_FLAGS };
/** Flags taking a value; the rest are booleans. Single-dash long forms are accepted as Go's flag package does. */
const VALUE_FLAGS = new Set(Object.keys(ALL_FLAGS).filter((k) => ALL_FLAGS[k]!.type === "string"));
const BOOL_FLAGS = new Set(Object.keys(ALL_FLAGS).filter((k) => ALL_FLAGS[k]!.type === "boolean"));
const SHORT: Record<string, string> = Object.fromEntries(
  Object.entries(ALL_FLAGS).flatMap(([name, def]) => ("alias" in def && typeof def.alias === "string" ? [[def.alias, name]] : [])),
);

export interface ParsedGlobals {
  globals: GlobalOptions;
  /** The command and everything after it. */
  rest: string[];
}

export function parseGlobals(argv: readonly string[]): ParsedGlobals {
  const g: GlobalOptions = { logFormat: "text", debug: false, systemdCgroup: false, plugins: [], help: false, version: false };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      i++;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") break;
    const body = arg.slice(arg.startsWith("--") ? 2 : 1);
    const eq = body.indexOf("=");
    let name = eq >= 0 ? body.slice(0, eq) : body;
    if (!arg.startsWith("--") && name.length === 1) name = SHORT[name] ?? name;
    let value: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (VALUE_FLAGS.has(name)) {
      if (value === undefined) {
        value = argv[++i];
        if (value === undefined) throw new UsageError(`flag needs an argument: --${name}`);
      }
      apply(g, name, value);
    } else if (BOOL_FLAGS.has(name)) {
      const on = value === undefined ? true : parseBool(name, value);
      if (name === "debug") g.debug = on;
      else if (name === "systemd-cgroup") g.systemdCgroup = on;
      else if (name === "help") g.help = on;
      else g.version = on;
    } else {
      throw new UsageError(`flag provided but not defined: ${arg.split("=")[0]}`);
    }
  }
  return { globals: g, rest: argv.slice(i) };
}

function apply(g: GlobalOptions, name: string, value: string): void {
  switch (name) {
    case "root":
      if (!value.startsWith("/")) throw new UsageError(`--root must be an absolute path, got ${JSON.stringify(value)}`);
      g.root = value;
      break;
    case "log":
      g.log = value;
      break;
    case "log-format":
      if (value !== "text" && value !== "json") throw new UsageError(`--log-format must be text or json, got ${JSON.stringify(value)}`);
      g.logFormat = value;
      break;
    case "rootless":
      if (!["true", "false", "auto"].includes(value)) throw new UsageError(`--rootless must be true, false or auto`);
      g.rootless = value;
      break;
    case "config":
      g.config = value;
      break;
    case "plugin":
      g.plugins.push(value);
      break;
    // --criu: accepted for runc compatibility; checkpointing is not supported.
  }
}

function parseBool(name: string, value: string): boolean {
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw new UsageError(`invalid boolean value ${JSON.stringify(value)} for --${name}`);
}

/** Re-create the global flags for a child process (the shim) that must log where the CLI logs. */
export function globalsToArgv(g: GlobalOptions): string[] {
  const out: string[] = [];
  if (g.root) out.push("--root", g.root);
  if (g.log) out.push("--log", g.log);
  if (g.logFormat !== "text") out.push("--log-format", g.logFormat);
  if (g.debug) out.push("--debug");
  if (g.config) out.push("--config", g.config);
  for (const p of g.plugins) out.push("--plugin", p);
  return out;
}

/** The parsed globals of this process, set once by main.ts. */
let current: GlobalOptions | undefined;
export function setGlobals(g: GlobalOptions): void {
  current = g;
}
export function globals(): GlobalOptions {
  if (!current) throw new Error("global options read before main parsed them");
  return current;
}
