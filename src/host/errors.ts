/**
 * Typed errors with stable codes. Only src/main.ts turns them into messages and
 * exit codes; everything else throws these (or lets a HuskError bubble up).
 */

export const ERROR_CODES = [
  "E_USAGE", // bad command line
  "E_INVALID_ID", // id fails the id pattern or is empty
  "E_NOT_FOUND", // no such sandbox/container/file
  "E_ALREADY_EXISTS",
  "E_INVALID_STATE", // operation not allowed in the current state
  "E_CONFIG", // husk configuration file invalid
  "E_INVALID_SPEC", // OCI config.json invalid
  "E_BUNDLE", // bundle or rootfs missing/unreadable
  "E_LOCKED", // lock could not be taken (non-blocking attempt)
  "E_HYPERVISOR", // QEMU missing, failed to boot, died
  "E_BOOT_TIMEOUT",
  "E_AGENT", // the guest agent reported an error
  "E_PROTOCOL", // malformed/oversized/unexpected frame
  "E_TIMEOUT", // a request timed out
  "E_MONITOR", // the sandbox monitor is gone or unreachable
  "E_SHIM",
  "E_HOOK", // an OCI hook failed
  "E_HOOK_TIMEOUT",
  "E_PLUGIN", // a plugin failed to load or a plugin hook failed
  "E_POLICY", // the policy plugin refused a container
  "E_IMAGE", // guest image missing or cannot be built
  "E_IMAGE_CORRUPT", // an image archive is truncated, malformed, or a file fails its hash
  "E_IMAGE_VERSION", // an image archive was made for another husk version
  "E_DISABLED", // a feature the configuration leaves off (e.g. [debug] console)
  "E_FACTORY", // a VM template cannot be made or used
  "E_UNSUPPORTED", // a valid request husk cannot honour in a VM
  "E_IO",
  "E_INTERNAL",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface HuskErrorOptions {
  cause?: unknown;
  /** Extra machine-readable context (paths, ids, the JSON path of a bad field...). */
  details?: Record<string, unknown>;
}

export class HuskError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: HuskErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "HuskError";
    this.code = code;
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.details ? { details: this.details } : {}),
      ...(this.cause !== undefined ? { cause: describeCause(this.cause) } : {}),
    };
  }
}

function describeCause(cause: unknown): unknown {
  if (cause instanceof HuskError) return cause.toJSON();
  if (cause instanceof Error) return { message: cause.message };
  return String(cause);
}

/** Subclasses so callers can `instanceof` by kind; each fixes its code. */
function kind(code: ErrorCode, name: string) {
  return class extends HuskError {
    constructor(message: string, options: HuskErrorOptions = {}) {
      super(code, message, options);
      this.name = name;
    }
  };
}

export const UsageError = kind("E_USAGE", "UsageError");
export const InvalidIdError = kind("E_INVALID_ID", "InvalidIdError");
export const NotFoundError = kind("E_NOT_FOUND", "NotFoundError");
export const AlreadyExistsError = kind("E_ALREADY_EXISTS", "AlreadyExistsError");
export const InvalidStateError = kind("E_INVALID_STATE", "InvalidStateError");
export const ConfigError = kind("E_CONFIG", "ConfigError");
export const InvalidSpecError = kind("E_INVALID_SPEC", "InvalidSpecError");
export const BundleError = kind("E_BUNDLE", "BundleError");
export const LockedError = kind("E_LOCKED", "LockedError");
export const HypervisorError = kind("E_HYPERVISOR", "HypervisorError");
export const BootTimeoutError = kind("E_BOOT_TIMEOUT", "BootTimeoutError");
export const AgentError = kind("E_AGENT", "AgentError");
export const ProtocolError = kind("E_PROTOCOL", "ProtocolError");
export const TimeoutError = kind("E_TIMEOUT", "TimeoutError");
export const MonitorError = kind("E_MONITOR", "MonitorError");
export const ShimError = kind("E_SHIM", "ShimError");
export const HookError = kind("E_HOOK", "HookError");
export const HookTimeoutError = kind("E_HOOK_TIMEOUT", "HookTimeoutError");
export const PluginError = kind("E_PLUGIN", "PluginError");
export const PolicyError = kind("E_POLICY", "PolicyError");
export const ImageError = kind("E_IMAGE", "ImageError");
export const ImageCorruptError = kind("E_IMAGE_CORRUPT", "ImageCorruptError");
export const ImageVersionError = kind("E_IMAGE_VERSION", "ImageVersionError");
export const DisabledError = kind("E_DISABLED", "DisabledError");
export const FactoryError = kind("E_FACTORY", "FactoryError");
export const UnsupportedError = kind("E_UNSUPPORTED", "UnsupportedError");
export const IoError = kind("E_IO", "IoError");
export const InternalError = kind("E_INTERNAL", "InternalError");

/**
 * When cleanup after a failure fails too, keep both: the original error is
 * what the user needs, the cleanup error is attached so nothing is hidden.
 */
export class CleanupError extends HuskError {
  readonly original: unknown;
  readonly cleanup: unknown[];
  constructor(original: unknown, cleanup: unknown[]) {
    const base = original instanceof HuskError ? original : undefined;
    super(
      base?.code ?? "E_INTERNAL",
      `${original instanceof Error ? original.message : String(original)} (and cleanup failed: ${cleanup
        .map((e) => (e instanceof Error ? e.message : String(e)))
        .join("; ")})`,
      { cause: original, details: base?.details },
    );
    this.name = "CleanupError";
    this.original = original;
    this.cleanup = cleanup;
  }
}

export function isHuskError(e: unknown): e is HuskError {
  return e instanceof HuskError;
}

/** Wrap an unknown throwable into a HuskError with the given code, keeping HuskErrors as they are. */
export function asHuskError(e: unknown, code: ErrorCode, context: string): HuskError {
  if (e instanceof HuskError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new HuskError(code, `${context}: ${msg}`, { cause: e });
}
