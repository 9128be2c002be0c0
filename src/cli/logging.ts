import { appendFileSync } from "node:fs";
import util from "node:util";
import type { ConsolaReporter, LogObject } from "consola";
import { consolaReporters, envLogLevel, setRootLogging, streamsOn } from "../host/log.ts";
import type { GlobalOptions } from "./globals.ts";

/**
 * Logging for the CLI and the shim, configured from the global flags the way
 * runc does it: --log FILE sends logs to FILE, --log-format json writes
 * logrus-style JSON lines ({"level","msg","time"}) that containerd and podman
 * parse to find the error of a failed command.
 *
 * Colour and decoration (consola's badges and icons, citty's coloured help)
 * only on a terminal: a pipe, a file, NO_COLOR, TERM=dumb or `--format json`
 * get plain text (see colorFor).
 */

export type Role = "cli" | "shim";

const LEVEL_NAME: Record<string, string> = {
  fatal: "fatal",
  error: "error",
  warn: "warning",
  debug: "debug",
  trace: "trace",
  verbose: "trace",
};

function message(obj: LogObject): string {
  // util.formatWithOptions read when first logging: reading it loads node:util's inspector (~1 ms at startup).
  const text = util.formatWithOptions({ colors: false, breakLength: Infinity }, ...obj.args);
  return obj.tag ? `[${obj.tag}] ${text}` : text;
}

/** One runc-style log line for a level and message. */
export function formatLine(format: "text" | "json", level: string, msg: string, time = new Date()): string {
  if (format === "json") return `${JSON.stringify({ level, msg, time: time.toISOString() })}\n`;
  return `time="${time.toISOString()}" level=${level} msg=${JSON.stringify(msg)}\n`;
}

/**
 * True when output on `stream` may carry colour and decoration: the stream is
 * a terminal, NO_COLOR is unset or empty (no-color.org), TERM is not "dumb",
 * and the command did not ask for JSON. FORCE_COLOR is not honoured: husk's
 * callers are programs more often than people.
 */
export function colorAllowed(stream: { isTTY?: boolean }, env: Record<string, string | undefined>, json: boolean): boolean {
  if (json) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.TERM === "dumb") return false;
  return stream.isTTY === true;
}

let plainOnly = false;

/** Whether this process may colour `stream` (after configureLogging; --format json forces plain). */
export function colorFor(stream: { isTTY?: boolean }): boolean {
  return colorAllowed(stream, process.env, plainOnly);
}

/** One plain log line, as consola's basic reporter writes it: `[warn] [tag] message`. */
export function plainLine(obj: Pick<LogObject, "type" | "tag" | "args">): string {
  return `[${obj.type}] ${message(obj as LogObject)}\n`;
}

function plainReporter(write: (line: string) => void): ConsolaReporter {
  return { log: (obj) => write(plainLine(obj)) };
}

function lineReporter(format: "text" | "json", write: (line: string) => void): ConsolaReporter {
  return {
    log(obj) {
      write(formatLine(format, LEVEL_NAME[obj.type] ?? "info", message(obj), obj.date));
    },
  };
}

function appendTo(path: string): (line: string) => void {
  return (line) => {
    try {
      appendFileSync(path, line, { mode: 0o600 });
    } catch {
      // A log file that cannot be written must not turn a success into a failure.
    }
  };
}

/**
 * Configure the root logger (level and reporters) for this process, before
 * anything logs: tagged loggers copy the root when first used.
 */
export function configureLogging(g: GlobalOptions, role: Role, options: { json?: boolean } = {}): void {
  plainOnly = options.json === true;
  const envLevel = envLogLevel();
  // Quiet by default like runc: warnings and errors only; --debug shows debug logs.
  const level = g.debug ? Math.max(4, envLevel ?? 4) : (envLevel ?? 1);
  if (g.log) {
    setRootLogging(level, [lineReporter(g.logFormat, appendTo(g.log))]);
  } else if (role === "shim") {
    // The shim's stderr is the container's stderr: never log there.
    setRootLogging(level, []);
  } else if (g.logFormat === "json") {
    setRootLogging(level, [lineReporter("json", (l) => process.stderr.write(l))]);
  } else {
    // consola's fancy reporter decides colour from stdout, and draws icons and badges either way:
    // plain lines unless stderr may carry colour. Decided at the first log line, as most
    // commands log none: reading process.stderr creates the stream (~1-3 ms of startup), and
    // consola's reporters load the full consola (~2 ms).
    let chosen: ConsolaReporter[] | undefined;
    let fancy = false;
    setRootLogging(level, [
      {
        log(obj, ctx) {
          if (!chosen) {
            fancy = colorFor(process.stderr);
            chosen = fancy ? consolaReporters() : [plainReporter((l) => process.stderr.write(l))];
          }
          for (const r of chosen) r.log(obj, fancy ? streamsOn(ctx) : ctx);
        },
      },
    ]);
  }
}

/** Write an error line to --log (containerd reads the last error from there). */
export function logErrorToFile(g: GlobalOptions | undefined, msg: string): void {
  if (!g?.log) return;
  appendTo(g.log)(formatLine(g.logFormat, "error", msg));
}
