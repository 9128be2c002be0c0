import { execa } from "execa";
import type { ConsolaInstance } from "consola";
import { HookError, HookTimeoutError } from "../host/errors.ts";
import { logger } from "../host/log.ts";
import { formatLimit, LIMITS, overLimit, utf8Bytes } from "./limits.ts";
import { OCI_VERSION, type Hook, type HookPhase, type OciState } from "./spec.ts";

/**
 * The OCI hook runner. Each hook is a host program: its own path, argv (args[0]
 * is argv0, as in execve), exactly its own env, the container's OCI state JSON
 * on stdin, and an optional timeout after which its whole process group gets
 * SIGKILL. Hooks of one phase run in order; the first failure throws.
 * Callers decide whether a phase aborts (before start) or warns (after):
 * `keepGoing` runs every hook and returns the failures instead of throwing,
 * because the spec says remaining poststart/poststop hooks still run.
 * Bounded (docs/limits.md): the state on stdin (it carries the annotations),
 * and what is kept of a hook's stdout and stderr: past the limit the pipe is
 * closed and the hook fails, so a hook that floods its output cannot grow
 * husk's memory.
 */

const log = logger("hooks");
const STDERR_TAIL = 2048;
const LOG_TAIL = 8192;

/**
 * Status a hook sees on stdin, per phase. Matches crun (and runc): "created"
 * while the container is being set up, "running" after start, "stopped" after
 * delete. crun passes "starting" to startContainer, which is not a status the
 * spec defines; husk passes "created" there, as runc does.
 */
export const HOOK_STATUS: Record<HookPhase, OciState["status"]> = {
  prestart: "created",
  createRuntime: "created",
  createContainer: "created",
  startContainer: "created",
  poststart: "running",
  poststop: "stopped",
};

/** Phases that run in the container's network namespace when the spec names one (so network hooks can set it up). */
export const NETNS_PHASES: ReadonlySet<HookPhase> = new Set(["prestart", "createRuntime"]);

export interface RunHooksOptions {
  /** Network namespace to enter (`nsenter --net=PATH`); only honoured for NETNS_PHASES. */
  netnsPath?: string;
  /** Run every hook and return failures instead of throwing at the first one. */
  keepGoing?: boolean;
  log?: ConsolaInstance;
  /** Working directory of the hook (default: the caller's, as runc and crun do). */
  cwd?: string;
}

/** The state JSON a hook receives: never an empty ociVersion or status (Kata's bug), id is the container's. */
export function hookState(phase: HookPhase, state: OciState): OciState {
  // Key order as in the runtime spec's state example.
  return {
    ociVersion: state.ociVersion || OCI_VERSION,
    id: state.id,
    status: HOOK_STATUS[phase],
    ...(state.pid !== undefined ? { pid: state.pid } : {}),
    bundle: state.bundle,
    annotations: state.annotations ?? {},
  };
}

/** The argv to spawn: directly, or through nsenter; pure so it is tested without spawning. */
export function hookCommand(
  hook: Hook,
  netnsPath: string | undefined,
  nsenter = "/usr/bin/nsenter",
): { file: string; args: string[]; argv0?: string } {
  const args = hook.args ?? [];
  const argv0 = args[0];
  const rest = args.slice(1);
  if (!netnsPath) return { file: hook.path, args: rest, ...(argv0 !== undefined ? { argv0 } : {}) };
  // nsenter execs the hook itself (no fork for a net namespace) but always with
  // argv0 = path; bash's `exec -a` keeps the hook's own argv0 when it differs.
  if (argv0 === undefined || argv0 === hook.path) {
    return { file: nsenter, args: [`--net=${netnsPath}`, "--", hook.path, ...rest] };
  }
  return {
    file: nsenter,
    args: [`--net=${netnsPath}`, "--", "/bin/bash", "-c", 'exec -a "$0" "$@"', argv0, hook.path, ...rest],
  };
}

/** Run one phase's hooks in order. Returns the failures when keepGoing, throws the first otherwise. */
export async function runHooks(
  phase: HookPhase,
  hooks: readonly Hook[] | undefined,
  state: OciState,
  options: RunHooksOptions = {},
): Promise<Error[]> {
  const failures: Error[] = [];
  const input = JSON.stringify(hookState(phase, state));
  const inputBytes = utf8Bytes(input);
  if (inputBytes > LIMITS.hookStdinBytes && (hooks ?? []).length > 0) {
    const e = new HookError(`${phase} hooks: the state for their stdin is ${inputBytes} bytes, ${overLimit(LIMITS.hookStdinBytes)}`, {
      details: { phase, limit: LIMITS.hookStdinBytes, bytes: inputBytes },
    });
    if (!options.keepGoing) throw e;
    (options.log ?? log).warn(e.message);
    return [e];
  }
  const netns = NETNS_PHASES.has(phase) ? options.netnsPath : undefined;
  for (const [index, hook] of (hooks ?? []).entries()) {
    try {
      await runHook(phase, index, hook, input, netns, options);
    } catch (e) {
      if (!options.keepGoing) throw e;
      failures.push(e as Error);
      (options.log ?? log).warn((e as Error).message);
    }
  }
  return failures;
}

async function runHook(
  phase: HookPhase,
  index: number,
  hook: Hook,
  input: string,
  netnsPath: string | undefined,
  options: RunHooksOptions,
): Promise<void> {
  const l = options.log ?? log;
  const what = `${phase} hook ${index} (${hook.path})`;
  const details = { phase, index, path: hook.path };
  if (!(await Bun.file(hook.path).exists())) {
    throw new HookError(`${what}: no such file`, { details });
  }
  const cmd = hookCommand(hook, netnsPath, Bun.which("nsenter") ?? "/usr/bin/nsenter");
  l.debug(`running ${what}`, { args: hook.args, netns: netnsPath, timeout: hook.timeout });
  const child = execa(cmd.file, cmd.args, {
    ...(cmd.argv0 !== undefined ? { argv0: cmd.argv0 } : {}),
    env: Object.fromEntries((hook.env ?? []).map(splitEnv)),
    extendEnv: false,
    input,
    reject: false,
    // Past this the pipe is closed (the hook gets EPIPE) and the hook fails below.
    maxBuffer: LIMITS.hookOutputBytes,
    // Own process group, so a timeout kills the hook's children too (a shell's `sleep`).
    detached: true,
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  let timedOut = false;
  const timer =
    hook.timeout === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          killHook(child.pid);
        }, hook.timeout * 1000);
  const result = await child;
  if (timer) clearTimeout(timer);
  const stdout = String(result.stdout ?? "");
  const stderr = String(result.stderr ?? "");
  if (stdout) l.info(`${what} stdout: ${logTail(stdout)}`);
  if (stderr) l.info(`${what} stderr: ${logTail(stderr)}`);
  if (timedOut) {
    throw new HookTimeoutError(`${what} timed out after ${hook.timeout}s and was killed`, {
      details: { ...details, timeout: hook.timeout },
    });
  }
  if (result.isMaxBuffer) {
    const which = stdout.length >= LIMITS.hookOutputBytes ? "stdout" : "stderr";
    throw new HookError(
      `${what} wrote more than ${formatLimit(LIMITS.hookOutputBytes)} to ${which}, over the limit: its ${which} was closed`,
      {
        details: { ...details, stream: which, limit: LIMITS.hookOutputBytes },
      },
    );
  }
  if (result.exitCode !== 0) {
    const tail = stderr.slice(-STDERR_TAIL);
    const how =
      result.exitCode !== undefined
        ? `exited with ${result.exitCode}`
        : result.signal
          ? `was killed by ${result.signal}`
          : `could not be run (${(result.cause as Error | undefined)?.message ?? result.shortMessage})`;
    throw new HookError(`${what} ${how}${tail ? `: ${tail}` : ""}`, {
      details: { ...details, exitCode: result.exitCode, signal: result.signal, stderr: tail },
      ...(result.exitCode === undefined && result.cause ? { cause: result.cause } : {}),
    });
  }
}

/** What of a hook's output goes to the log: its end, at most LOG_TAIL characters, saying when it was cut. */
function logTail(text: string): string {
  return text.length <= LOG_TAIL ? text : `(last ${LOG_TAIL} of ${text.length} characters) ${text.slice(-LOG_TAIL)}`;
}

function splitEnv(entry: string): [string, string] {
  const eq = entry.indexOf("=");
  return eq < 0 ? [entry, ""] : [entry.slice(0, eq), entry.slice(eq + 1)];
}

/** SIGKILL the hook's process group (it was spawned detached, so it leads one), so its children die too. */
function killHook(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // Not a group leader yet: kill the process itself.
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
}
