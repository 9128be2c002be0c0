import * as v from "valibot";
import { ID_PATTERN } from "../host/ids.ts";
import { ProcessSchema, ResourcesSchema, SpecSchema } from "../oci/spec.ts";

/**
 * The agent method table: every method the host may call on the guest agent,
 * with its request and response schemas. Both ends validate every message
 * against this table (the guest is untrusted; so is the host, to the guest).
 * Framing, multiplexing and flow control live in ./wire/.
 */

export const PROTOCOL_VERSION = 1;
/** Largest frame either side accepts; bigger ones reset the channel. */
export const MAX_FRAME_BYTES = 1024 * 1024;

const id = v.pipe(v.string(), v.regex(ID_PATTERN, "invalid id"));
const text = (max: number) => v.pipe(v.string(), v.maxLength(max));
const u32 = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffff_ffff));
const i32 = v.pipe(v.number(), v.integer(), v.minValue(-0x8000_0000), v.maxValue(0x7fff_ffff));
const u64 = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER));
const signal = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(64));
const empty = v.strictObject({});

/** Which process: a container's init process (no execId) or an exec'd one. */
const processRef = {
  containerId: id,
  execId: v.optional(id),
};

/**
 * Stdio streams for a process: stream ids allocated by the caller on its
 * channel (see wire/), given here so the agent attaches the process's stdio
 * to them. With a terminal, `stdout` carries the pty and `stderr` is absent.
 */
export const StdioSchema = v.strictObject({
  terminal: v.boolean(),
  stdin: v.optional(u32),
  stdout: v.optional(u32),
  stderr: v.optional(u32),
  rows: v.optional(v.pipe(u32, v.maxValue(0xffff))),
  cols: v.optional(v.pipe(u32, v.maxValue(0xffff))),
});
export type Stdio = v.InferOutput<typeof StdioSchema>;

export const InterfaceSchema = v.strictObject({
  name: text(15),
  hwAddr: v.optional(text(17)),
  mtu: v.optional(v.pipe(u32, v.maxValue(65535))),
  addresses: v.pipe(v.array(v.strictObject({ address: text(64), prefixLength: v.pipe(u32, v.maxValue(128)) })), v.maxLength(64)),
});
export const RouteSchema = v.strictObject({
  destination: text(64), // "default" or CIDR
  gateway: v.optional(text(64)),
  device: text(15),
  source: v.optional(text(64)),
});

export const ProcessInfoSchema = v.strictObject({
  pid: u32,
  ppid: v.optional(u32),
  user: v.optional(text(64)),
  state: v.optional(text(8)),
  command: text(4096),
  /** Controlling terminal as ps names it (pts/0, ttyS0), absent when none. */
  tty: v.optional(text(32)),
  /** When the process started, guest clock, Unix seconds. */
  startTime: v.optional(u64),
  /** CPU time used (user + system), seconds. */
  cpuSeconds: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER))),
});

export const StatsSchema = v.strictObject({
  cpu: v.strictObject({ usageUsec: u64, userUsec: u64, systemUsec: u64 }),
  memory: v.strictObject({ usageBytes: u64, limitBytes: v.optional(u64) }),
  pids: v.strictObject({ current: u64, limit: v.optional(u64) }),
});

export const GuestDetailsSchema = v.strictObject({
  agentVersion: text(64),
  kernelRelease: text(128),
  cpus: u32,
  memTotalKiB: u64,
  memFreeKiB: u64,
  uptimeSec: v.pipe(v.number(), v.minValue(0)),
});

/**
 * The containerId under which debug consoles are addressed (waitProcess,
 * signalProcess, resizeTty, closeStdin... with the console's execId): they
 * run in the guest, not in a container, and no container may take this id.
 */
export const GUEST_CONSOLE_ID = "husk.guest-console";

function method<Req extends v.GenericSchema, Res extends v.GenericSchema>(request: Req, response: Res) {
  return { request, response } as const;
}

export const METHODS = {
  version: method(empty, v.strictObject({ agentVersion: text(64), commit: text(64), protocolVersion: u32 })),
  guestDetails: method(empty, GuestDetailsSchema),
  /** Create (not start) a container from an OCI spec; root.path is a guest path. */
  createContainer: method(v.strictObject({ containerId: id, spec: SpecSchema, stdio: StdioSchema }), v.strictObject({ pid: u32 })),
  startContainer: method(v.strictObject({ containerId: id }), empty),
  removeContainer: method(v.strictObject({ containerId: id, force: v.optional(v.boolean()) }), empty),
  exec: method(v.strictObject({ containerId: id, execId: id, process: ProcessSchema, stdio: StdioSchema }), v.strictObject({ pid: u32 })),
  signalProcess: method(v.strictObject({ ...processRef, signal, all: v.optional(v.boolean()) }), empty),
  /** Resolves when the process has exited; the agent keeps the status until removal. */
  waitProcess: method(
    v.strictObject(processRef),
    v.strictObject({ exitCode: v.pipe(i32, v.minValue(0), v.maxValue(255)), signal: v.optional(signal) }),
  ),
  listProcesses: method(
    v.strictObject({ containerId: id }),
    v.strictObject({ processes: v.pipe(v.array(ProcessInfoSchema), v.maxLength(65536)) }),
  ),
  pauseContainer: method(v.strictObject({ containerId: id }), empty),
  resumeContainer: method(v.strictObject({ containerId: id }), empty),
  stats: method(v.strictObject({ containerId: id }), StatsSchema),
  updateContainer: method(v.strictObject({ containerId: id, resources: ResourcesSchema }), empty),
  /** For callers without a stream; data is base64, at most 64 KiB decoded. */
  writeStdin: method(v.strictObject({ ...processRef, data: v.pipe(v.string(), v.maxLength(87384)) }), v.strictObject({ written: u32 })),
  closeStdin: method(v.strictObject(processRef), empty),
  resizeTty: method(v.strictObject({ ...processRef, rows: v.pipe(u32, v.maxValue(0xffff)), cols: v.pipe(u32, v.maxValue(0xffff)) }), empty),
  updateInterfaces: method(v.strictObject({ interfaces: v.pipe(v.array(InterfaceSchema), v.maxLength(64)) }), empty),
  updateRoutes: method(v.strictObject({ routes: v.pipe(v.array(RouteSchema), v.maxLength(1024)) }), empty),
  /**
   * First call to a VM cloned from a template (src/factory/): every clone
   * starts with the template's memory, so the guest reseeds its kernel RNG
   * with this host entropy, sets its clock and hostname, and mounts the
   * sandbox's 9p share (a template is saved with no share mounted).
   */
  cloneInit: method(
    v.strictObject({
      hostname: v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/, "invalid hostname")),
      unixTimeMs: u64,
      /** base64 of 32..256 random bytes. */
      entropy: v.pipe(v.string(), v.regex(/^[A-Za-z0-9+/]{43,344}={0,2}$/, "must be base64 of 32 to 256 bytes")),
    }),
    empty,
  ),
  /**
   * A root shell in the guest itself, outside every container (the host
   * allows it only with [debug] console = true). Its process is then
   * { containerId: GUEST_CONSOLE_ID, execId }. env: extra KEY=VALUE (TERM).
   */
  debugConsole: method(
    v.strictObject({
      execId: id,
      stdio: StdioSchema,
      env: v.optional(
        v.pipe(v.array(v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]*=/, "must be KEY=VALUE"), v.maxLength(4096))), v.maxLength(64)),
      ),
    }),
    v.strictObject({ pid: u32 }),
  ),
  /** Sync filesystems and power the guest off. */
  shutdown: method(empty, empty),
} as const;

export type MethodName = keyof typeof METHODS;
export type MethodRequest<M extends MethodName> = v.InferOutput<(typeof METHODS)[M]["request"]>;
export type MethodResponse<M extends MethodName> = v.InferOutput<(typeof METHODS)[M]["response"]>;

/** Events the agent sends unasked. */
export const EVENTS = {
  processExit: v.strictObject({
    ...processRef,
    exitCode: v.pipe(i32, v.minValue(0), v.maxValue(255)),
    signal: v.optional(signal),
  }),
  oom: v.strictObject({ containerId: id }),
} as const;
export type EventName = keyof typeof EVENTS;
export type EventPayload<E extends EventName> = v.InferOutput<(typeof EVENTS)[E]>;

/** Error body an agent returns instead of a response. */
export const AgentErrorSchema = v.strictObject({
  code: text(64),
  message: text(4096),
});
