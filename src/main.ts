/**
 * Entry point of dist/husk (CLI, monitor, shim and guest agent). Parses the
 * global flags, configures logging, runs the command, and is the only place
 * that turns errors into messages and exit codes:
 *   0  success (or, for run/exec in the foreground, the process's own code)
 *   1  any error (as runc)
 *   2  usage error: unknown command or flag, missing argument
 * 255  exec failed (as runc's `exec failed: …`): unknown container, bad
 *      --pid-file, a process that cannot start; so a caller can tell it
 *      from the exec'd process's own status
 * Text errors go to stderr as `husk: <message>`; with --log they are also
 * appended as a runc log line (JSON with --log-format json); when the command
 * was given --format json, stdout gets {"error":{"code","message",...}}.
 */
import { type HuskError, InternalError, isHuskError } from "./host/errors.ts";
import { parseGlobals, setGlobals, type GlobalOptions } from "./cli/globals.ts";

/** These run until their work ends and exit by themselves. */
const LONG_RUNNING = new Set(["monitor", "shim", "agent", "shim-v2"]);
/**
 * These print only with console.log, which writes synchronously: nothing to
 * flush before exiting, and creating process.stdout would cost them ~1 ms
 * (containerd and podman call them constantly).
 */
const CONSOLE_ONLY = new Set(["state", "list"]);
// Invoked as containerd-shim-husk-v2 (a symlink; in a compiled Bun binary the
// invoked name is argv0): containerd's shim v2 command line, Go-style flags.
const SHIM_V2_NAME = "containerd-shim-husk-v2";
const argv = (process.argv0.split("/").pop() === SHIM_V2_NAME ? ["shim-v2"] : []).concat(process.argv.slice(2));
let g: GlobalOptions | undefined;
let command: string | undefined;

try {
  const parsed = parseGlobals(argv);
  g = parsed.globals;
  command = parsed.rest[0];
  setGlobals(g);
  if (g.version) {
    // Nothing else loaded (no logging, no citty): callers probe `husk --version` often. console.log writes synchronously.
    const { versionText } = await import("./cli/lib/version.ts");
    console.log(versionText());
    process.exit(0);
  }
  // Loaded here, not above: consola costs more startup time than the whole of --version.
  const { configureLogging } = await import("./cli/logging.ts");
  // The shim's stderr is the container's; containerd reads the shim v2's `start` output as its address: no logs there.
  configureLogging(g, parsed.rest[0] === "shim" || parsed.rest[0] === "shim-v2" ? "shim" : "cli", { json: wantsJson(argv) });
  // Loaded after logging is configured: modules create tagged loggers at load time.
  const { runCli } = await import("./cli/cli.ts");
  await runCli(parsed.rest, g);
  if (!LONG_RUNNING.has(parsed.rest[0] ?? "")) {
    // A short-lived command is done: do not let a lingering handle (a socket
    // a library forgot to close) keep `husk create` from returning to its caller.
    if (!CONSOLE_ONLY.has(parsed.rest[0] ?? "")) await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
    process.exit(process.exitCode ?? 0);
  }
} catch (e) {
  await fail(e);
}

async function fail(e: unknown): Promise<never> {
  const err: HuskError = isHuskError(e) ? e : new InternalError(e instanceof Error ? e.message : String(e), { cause: e });
  // console.error/log write synchronously: nothing is lost to the exit below, and no stream is created.
  console.error(`husk: ${err.message}`);
  if (g?.debug && !isHuskError(e) && e instanceof Error && e.stack) console.error(e.stack);
  if (g?.log) (await import("./cli/logging.ts")).logErrorToFile(g, err.message);
  if (wantsJson(argv)) console.log(JSON.stringify({ error: err.toJSON() }));
  process.exit(exitCodeOf(err, command));
}

function exitCodeOf(err: HuskError, cmd: string | undefined): number {
  if (err.code === "E_USAGE") return 2;
  return cmd === "exec" ? 255 : 1;
}

function wantsJson(args: string[]): boolean {
  return args.some((a, i) => a === "--format=json" || ((a === "--format" || a === "-f") && args[i + 1] === "json"));
}
