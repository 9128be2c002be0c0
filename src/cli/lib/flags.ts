import type { ArgsDef, CommandDef } from "citty";
import { UsageError } from "../../host/errors.ts";

/**
 * citty parses leniently (unknown flags are kept as values); runc rejects
 * them, and so must we, so a misspelled flag never passes silently.
 */

interface FlagInfo {
  takesValue: boolean;
}

function flagTable(argsDef: ArgsDef): { long: Map<string, FlagInfo>; short: Map<string, FlagInfo> } {
  const long = new Map<string, FlagInfo>();
  const short = new Map<string, FlagInfo>();
  for (const [name, def] of Object.entries(argsDef)) {
    if (def.type === "positional") continue;
    const info = { takesValue: def.type === "string" || def.type === "enum" };
    long.set(name, info);
    const aliases = "alias" in def && def.alias ? (Array.isArray(def.alias) ? def.alias : [def.alias]) : [];
    for (const a of aliases) (a.length === 1 ? short : long).set(a, info);
  }
  long.set("help", { takesValue: false });
  short.set("h", { takesValue: false });
  return { long, short };
}

export interface SplitArgs {
  /** Flags (with their values) in order. */
  flags: string[];
  /** Positionals. */
  positionals: string[];
  /** Everything from the first positional on when stopAtPositional (exec's command). */
  tail: string[];
}

/**
 * Validate rawArgs against a command's flags. With stopAtPositional, parsing
 * ends at the first positional as in Go's flag package (exec ID CMD -c ...).
 */
export function checkFlags(rawArgs: readonly string[], argsDef: ArgsDef, stopAtPositional = false): SplitArgs {
  const { long, short } = flagTable(argsDef);
  const flags: string[] = [];
  const positionals: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") {
      positionals.push(...rawArgs.slice(i + 1));
      return { flags, positionals, tail: stopAtPositional ? rawArgs.slice(i + 1) : [] };
    }
    if (!arg.startsWith("-") || arg === "-") {
      if (stopAtPositional) return { flags, positionals: [arg], tail: rawArgs.slice(i) };
      positionals.push(arg);
      continue;
    }
    if (arg.startsWith("--") || (arg.length > 2 && long.has(arg.slice(1).split("=")[0]!))) {
      // --name[=value], or Go-style -name[=value]
      const body = arg.replace(/^--?/, "");
      const eq = body.indexOf("=");
      const name = eq >= 0 ? body.slice(0, eq) : body;
      let info = long.get(name);
      // citty reads --no-X as X=false; runc has real flags named no-X (--no-pivot).
      if (!info && name.startsWith("no-")) info = long.get(name.slice(3));
      if (!info) throw new UsageError(`flag provided but not defined: --${name}`);
      flags.push(arg);
      if (info.takesValue && eq < 0) {
        const value = rawArgs[++i];
        if (value === undefined) throw new UsageError(`flag needs an argument: --${name}`);
        flags.push(value);
      }
      continue;
    }
    // short flags, possibly grouped (-dt) or with an attached value (-bDIR)
    flags.push(arg);
    for (let j = 1; j < arg.length; j++) {
      const c = arg[j]!;
      const info = short.get(c);
      if (!info) throw new UsageError(`flag provided but not defined: -${c}`);
      if (info.takesValue) {
        if (j === arg.length - 1) {
          const value = rawArgs[++i];
          if (value === undefined) throw new UsageError(`flag needs an argument: -${c}`);
          flags.push(value);
        }
        break;
      }
    }
  }
  return { flags, positionals, tail: [] };
}

/** All values of a repeatable flag (citty keeps only the last one). */
export function repeated(flags: readonly string[], names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < flags.length; i++) {
    const arg = flags[i]!;
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    if (arg.startsWith("-") && !arg.startsWith("--") && arg.length > 2 && names.includes(arg[1]!) && !names.includes(name)) {
      out.push(arg.slice(2)); // -eFOO=bar
      continue;
    }
    if (!names.includes(name)) continue;
    if (eq >= 0) out.push(body.slice(eq + 1));
    else if (i + 1 < flags.length) out.push(flags[++i]!);
  }
  return out;
}

/**
 * Wrap a citty command so its raw arguments are checked before it runs;
 * with positionalCount, extra positionals are refused too.
 */
export function strict<T extends ArgsDef>(
  def: CommandDef<T> & { args: T },
  options: { stopAtPositional?: boolean; maxPositionals?: number } = {},
): CommandDef<T> {
  const setup = def.setup;
  return {
    ...def,
    async setup(ctx) {
      const parsed = checkFlags(ctx.rawArgs, def.args, options.stopAtPositional);
      if (options.maxPositionals !== undefined && parsed.positionals.length > options.maxPositionals) {
        throw new UsageError(`unexpected argument: ${parsed.positionals[options.maxPositionals]}`);
      }
      await setup?.(ctx);
    },
  };
}
