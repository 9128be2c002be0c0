import { lstatSync, statSync, type Stats } from "node:fs";
import { constants } from "node:os";
import { dirname, basename, resolve } from "node:path";
import { HuskError, IoError, NotFoundError, ShimError, TimeoutError, UsageError } from "../host/errors.ts";
import type { LaunchRequest, LaunchResult, ProcessLauncher } from "../core/ports.ts";
import { writeFileAtomic } from "../host/json-file.ts";
import { huskCommand } from "../host/self.ts";
import { parseOr } from "../host/valid.ts";
import { logger } from "../host/log.ts";
import { withTimeout } from "../host/time.ts";
import type { VmHandle } from "../core/ports.ts";
import { LIMITS, utf8Bytes } from "../oci/limits.ts";
import { listenHandshake } from "./handshake.ts";
import { ShimReportSchema } from "./protocol.ts";

/**
 * The real ProcessLauncher: spawns `husk shim` in its own session (so the
 * caller's subreaper — containerd-shim, conmon — adopts it when this CLI
 * exits) with this process's stdin/stdout/stderr, hands it the request over
 * a private socket and waits for its report. The shim opens its own monitor
 * connection, creates the guest process and relays its stdio; its pid is the
 * container's pid.
 *
 * With a terminal sent to --console-socket the process's stdio is the pty:
 * the shim then gets /dev/null, not the caller's fds, so that
 * `out=$(husk create --console-socket S ...)` returns as soon as husk
 * exits instead of when the container does (runc does the same).
 */

const log = logger("shim-launcher");

export interface ShimLauncherOptions {
  /** How to run husk itself; default: this executable (or bun + the script when run from source). */
  command?: string[];
  /** Global flags for the shim (--log, --log-format, --debug, --root). */
  globalArgs?: string[];
  /** Give up on a shim that has not reported after this long. */
  reportTimeoutMs?: number;
  /**
   * The shim's stdin/stdout/stderr for a request (fds of this process, e.g.
   * containerd's fifos opened by the shim v2); default: this process's own.
   */
  stdioFor?: (request: LaunchRequest) => [number, number, number] | undefined;
}

/** runc fails before creating anything when --console-socket is not a socket. */
export function assertConsoleSocket(path: string): void {
  const bytes = utf8Bytes(path);
  if (bytes > LIMITS.consoleSocketPathBytes) {
    // sun_path holds 108 bytes: a longer path cannot be connected to at all.
    throw new UsageError(
      `console socket ${path} is ${bytes} bytes long, over the ${LIMITS.consoleSocketPathBytes}-byte limit of a unix socket address`,
      {
        details: { path, limit: LIMITS.consoleSocketPathBytes, bytes },
      },
    );
  }
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch {
    throw new NotFoundError(`console socket ${path} does not exist`, { details: { path } });
  }
  if (!st.isSocket()) throw new UsageError(`console socket ${path} is not a unix socket`, { details: { path } });
}

/**
 * --pid-file is checked before anything is created (runc finds out only
 * after starting the process, then kills it): its directory must exist.
 */
export function assertPidFileDir(path: string): void {
  const abs = resolve(path);
  const bytes = utf8Bytes(abs);
  if (bytes > LIMITS.pidFilePathBytes) {
    throw new UsageError(
      `cannot write pid file: its path is ${bytes} bytes long, over the ${LIMITS.pidFilePathBytes}-byte limit (PATH_MAX)`,
      {
        details: { limit: LIMITS.pidFilePathBytes, bytes },
      },
    );
  }
  const nameBytes = utf8Bytes(basename(abs));
  if (nameBytes > LIMITS.pidFileNameBytes) {
    throw new UsageError(
      `cannot write pid file ${path}: its name is ${nameBytes} bytes long, over the ${LIMITS.pidFileNameBytes}-byte limit (NAME_MAX)`,
      {
        details: { path, limit: LIMITS.pidFileNameBytes, bytes: nameBytes },
      },
    );
  }
  const dir = dirname(abs);
  let st: Stats;
  try {
    st = statSync(dir);
  } catch {
    throw new NotFoundError(`cannot write pid file ${path}: directory ${dir} does not exist`, { details: { path, directory: dir } });
  }
  if (!st.isDirectory())
    throw new IoError(`cannot write pid file ${path}: ${dir} is not a directory`, { details: { path, directory: dir } });
}

/** Written like runc: the bare number, replaced atomically so a reader never sees half of it. */
export function writePidFile(path: string, pid: number): void {
  try {
    writeFileAtomic(resolve(path), String(pid), 0o644);
  } catch (e) {
    const errno = (e as Error).cause as NodeJS.ErrnoException | undefined;
    const why = errno?.code ?? (e as Error).message;
    throw new IoError(`cannot write pid file ${path}: ${why}`, { cause: e, details: { path } });
  }
}

export class ShimLauncher implements ProcessLauncher {
  private readonly exits = new Map<number, Promise<number>>();

  constructor(private readonly options: ShimLauncherOptions = {}) {}

  /** Exit code of a foreground shim launched by this process (run, exec without -d). */
  exited(pid: number): Promise<number> | undefined {
    return this.exits.get(pid);
  }

  async launch(vm: VmHandle, request: LaunchRequest): Promise<LaunchResult> {
    if (request.io.consoleSocket) assertConsoleSocket(request.io.consoleSocket);
    if (request.io.pidFile) assertPidFileDir(request.io.pidFile);
    const handshake = listenHandshake();
    const cmd = [...(this.options.command ?? huskCommand()), ...(this.options.globalArgs ?? []), "shim", "--handshake", handshake.path];
    log.debug("spawning shim", cmd.join(" "));
    const ownStdio = !(request.io.terminal && request.io.consoleSocket);
    const proc = Bun.spawn({
      cmd,
      stdio: (ownStdio ? (this.options.stdioFor?.(request) ?? ["inherit", "inherit", "inherit"]) : ["ignore", "ignore", "ignore"]) as [
        "inherit" | "ignore" | number,
        "inherit" | "ignore" | number,
        "inherit" | "ignore" | number,
      ],
      detached: true,
      cwd: "/", // hold no bundle directory busy
      env: process.env,
    });
    const died = proc.exited.then((code) => {
      throw new ShimError(`shim exited (${code ?? proc.signalCode}) before reporting`);
    });
    died.catch(() => {});
    const timeoutMs = this.options.reportTimeoutMs ?? 180_000;
    // One deadline for both steps: the handshake, then the report.
    const deadline = Date.now() + timeoutMs;
    const inTime = <T>(step: Promise<T>) =>
      withTimeout(step, Math.max(0, deadline - Date.now()), () => new TimeoutError(`shim did not report within ${timeoutMs} ms`));
    let guestPid: number;
    try {
      const conn = await inTime(Promise.race([handshake.accepted, died]));
      conn.send(request);
      const raw = await inTime(Promise.race([conn.receive(), died]));
      const report = parseOr(ShimReportSchema, raw, ({ message }) => new ShimError(`malformed report from shim: ${message}`));
      if (!report.ok) {
        const e = report.error;
        throw new HuskError(e.code, e.message, e.details ? { details: e.details } : {});
      }
      guestPid = report.guestPid;
      conn.close();
    } catch (e) {
      proc.kill("SIGKILL");
      await proc.exited;
      throw e;
    } finally {
      handshake.close();
    }
    log.debug(`shim ${proc.pid} reports guest pid ${guestPid}`);
    if (request.io.pidFile) {
      try {
        writePidFile(request.io.pidFile, proc.pid);
      } catch (e) {
        // As runc: no pid file, no process. Kill it in the guest; its shim exits with it.
        const ref = { containerId: request.containerId, ...(request.kind === "exec" ? { execId: request.execId } : {}) };
        await vm.agent.call("signalProcess", { ...ref, signal: 9 }).catch((k: unknown) => {
          log.warn(`cannot kill ${request.containerId} after the pid file failed: ${(k as Error).message}`);
          proc.kill("SIGTERM");
        });
        throw e;
      }
    }
    if (request.io.detach) {
      proc.unref();
      return { pid: proc.pid, guestPid };
    }
    const exited = proc.exited.then((code) => code ?? 128 + signalNumber(proc.signalCode));
    this.exits.set(proc.pid, exited);
    return { pid: proc.pid, guestPid, exited };
  }
}

function signalNumber(sig: string | number | null): number {
  if (typeof sig === "number") return sig;
  return sig ? (constants.signals[sig as NodeJS.Signals] ?? 0) : 0;
}
