import { renderUsage, runCommand, type CommandDef, type Resolvable, type SubCommandsDef } from "citty";
import { UsageError } from "../host/errors.ts";
import type { GlobalOptions } from "./globals.ts";
import { colorFor } from "./logging.ts";
import { rootCommand } from "./root.ts";

/**
 * Dispatch the command line (global flags already parsed; --version is main.ts's):
 * --help (for the command named), or the command itself. citty's own errors
 * (unknown command, missing argument) become UsageErrors for main.ts.
 */
export async function runCli(rest: string[], g: GlobalOptions): Promise<void> {
  if (rest.length === 0) {
    // runc without a command prints its help and succeeds.
    await showUsage(rootCommand);
    return;
  }
  if (g.help || wantsHelp(rest)) {
    const [cmd, parent] = await resolveCommand(rest);
    await showUsage(cmd, parent);
    return;
  }
  try {
    // A command named first runs directly: the root command has no setup, run or
    // positional of its own, and citty's parse of its flags only costs startup time.
    const subs = await subCommandsOf(rootCommand);
    const direct = subs && Object.hasOwn(subs, rest[0]!) ? subs[rest[0]!] : undefined;
    if (direct) await runCommand(await resolved(direct), { rawArgs: rest.slice(1) });
    else await runCommand(rootCommand, { rawArgs: rest });
  } catch (e) {
    if (e instanceof Error && e.name === "CLIError") throw new UsageError(stripAnsi(e.message), { cause: e });
    throw e;
  }
}

function wantsHelp(rest: string[]): boolean {
  // exec's command may carry its own -h: only look before the container id.
  const end = rest[0] === "exec" ? rest.findIndex((a, i) => i > 0 && !a.startsWith("-")) : rest.indexOf("--");
  const head = end < 0 ? rest : rest.slice(0, end);
  return head.includes("--help") || head.includes("-h");
}

// biome-ignore lint/suspicious/noExplicitAny: citty's CommandDef is invariant in its args: this is any command, whatever its flags.
type AnyCommand = CommandDef<any>;

async function resolveCommand(rest: string[]): Promise<[AnyCommand, AnyCommand | undefined]> {
  let cmd: AnyCommand = rootCommand;
  let parent: AnyCommand | undefined;
  for (const arg of rest) {
    if (arg.startsWith("-")) continue;
    const subs = await subCommandsOf(cmd);
    if (!subs) break; // a command's own positional (an id)
    const next = subs[arg];
    // `husk foo -h`: an unknown command is an error with or without -h (runc exits non-zero too).
    if (!next) throw new UsageError(`unknown command ${JSON.stringify(arg)}`);
    parent = cmd;
    cmd = await resolved(next);
  }
  return [cmd, parent];
}

async function subCommandsOf(cmd: AnyCommand): Promise<SubCommandsDef | undefined> {
  return typeof cmd.subCommands === "function" ? await cmd.subCommands() : await cmd.subCommands;
}

async function resolved(cmd: Resolvable<AnyCommand>): Promise<AnyCommand> {
  return typeof cmd === "function" ? await cmd() : await cmd;
}

/** citty's usage text, coloured only on a terminal (citty itself colours any stream unless NO_COLOR=1). */
async function showUsage(cmd: AnyCommand, parent?: AnyCommand): Promise<void> {
  const text = await renderUsage(cmd, parent);
  process.stdout.write(`${colorFor(process.stdout) ? text : stripAnsi(text)}\n\n`);
}

export function stripAnsi(s: string): string {
  return s.replace(/\u001b\[[0-9;]*m/g, "");
}
