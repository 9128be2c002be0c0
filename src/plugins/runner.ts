import { execa } from "execa";
import type { ConsolaInstance } from "consola";
import { IoError, TimeoutError } from "../host/errors.ts";
import type { ProcessRunner, RunOptions, RunResult } from "./types.ts";

/**
 * The process runner plugins get: execa with a timeout (SIGKILL), output as
 * strings, a typed error on failure, every command logged at debug level.
 */
export function createRunner(log: ConsolaInstance, defaultTimeoutMs = 30_000): ProcessRunner {
  return async (file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> => {
    const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
    const argv = options.netns ? [`--net=${options.netns}`, "--", file, ...args] : [...args];
    const bin = options.netns ? (Bun.which("nsenter") ?? "/usr/bin/nsenter") : file;
    log.debug(`run ${bin} ${argv.join(" ")}`);
    const r = await execa(bin, argv, {
      reject: false,
      timeout: timeoutMs,
      killSignal: "SIGKILL",
      ...(options.input !== undefined ? { input: options.input } : { stdin: "ignore" as const }),
      ...(options.env ? { env: options.env } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    const result: RunResult = { stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? ""), exitCode: r.exitCode ?? -1 };
    const cmd = `${file} ${args.join(" ")}`.trim();
    if (r.timedOut) throw new TimeoutError(`${cmd}: timed out after ${timeoutMs} ms`, { details: { command: cmd } });
    if (r.exitCode !== 0 && !options.allowFailure) {
      const why = r.exitCode === undefined ? (r.signal ?? (r.cause as Error | undefined)?.message) : `exit ${r.exitCode}`;
      throw new IoError(`${cmd}: ${why}${result.stderr ? `: ${result.stderr.trim().slice(-1024)}` : ""}`, {
        details: { command: cmd, exitCode: r.exitCode, stderr: result.stderr },
      });
    }
    return result;
  };
}
