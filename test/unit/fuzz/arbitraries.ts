import fc from "fast-check";
import type { MethodName, MethodRequest, MethodResponse } from "../../../src/agent/protocol.ts";
import type { OciSpec } from "../../../src/oci/spec.ts";

/**
 * fast-check arbitraries for the trust-boundary fuzzers: hostile JSON values
 * (wrong types, huge, unicode, `..` paths, deep nesting), mutations of valid
 * samples, and a valid request and response for every agent method (a new
 * method without samples fails the guest fuzzer's coverage check).
 */

/** Nested arrays `depth` levels deep. */
export function nested(depth: number): unknown {
  let v: unknown = [];
  for (let i = 1; i < depth; i++) v = [v];
  return v;
}

export const pathStrings = fc.constantFrom(
  "",
  ".",
  "..",
  "../..",
  "/../../../etc/passwd",
  "a/../../b",
  "rootfs/../../..",
  "/proc/self/root",
  "//",
  "/dev/sda",
  "\u0000",
  "a\u0000b",
  "\u202e",
  "🙂/🙂",
  "%2e%2e/",
  "\\..\\..",
  "\n",
  " ",
  "kubernetes.io~empty-dir/../x",
);

const numbers = fc.constantFrom(
  -1,
  0,
  -0,
  0.5,
  1.5,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  -(2 ** 53),
  1e308,
  -1e308,
  Number.MAX_SAFE_INTEGER + 2,
  65,
  255,
  256,
);

/** Any hostile value; big ones are rare (weights) so a run stays fast. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 6 },
  { arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }), weight: 3 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 40 }), weight: 2 },
  { arbitrary: numbers, weight: 3 },
  { arbitrary: pathStrings, weight: 3 },
  { arbitrary: fc.constantFrom(null, true, false, {}, [], [null], { "": "" }, { __proto__: "x" }, { constructor: {} }), weight: 2 },
  { arbitrary: fc.integer({ min: 1_000, max: 300_000 }).map((n) => "x".repeat(n)), weight: 1 },
  { arbitrary: fc.integer({ min: 60, max: 3_000 }).map(nested), weight: 1 },
  { arbitrary: fc.integer({ min: 100, max: 3_000 }).map((n) => Array.from({ length: n }, (_, i) => `a${i}`)), weight: 1 },
);

export interface Mutation {
  at: number;
  op: "set" | "delete" | "add" | "wrap";
  key: string;
  value: unknown;
}

export function mutationsOf(keys: readonly string[], max = 4): fc.Arbitrary<Mutation[]> {
  return fc.array(
    fc.record({
      at: fc.nat(),
      op: fc.constantFrom("set", "set", "delete", "add", "wrap"),
      key: fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 12 })),
      value: hostileValue,
    }) as fc.Arbitrary<Mutation>,
    { minLength: 1, maxLength: max },
  );
}

type Slot = { parent: Record<string, unknown> | unknown[]; key: string | number } | { root: true };

function slots(value: unknown): Slot[] {
  const out: Slot[] = [{ root: true }];
  const todo: unknown[] = [value];
  while (todo.length) {
    const v = todo.pop();
    if (v === null || typeof v !== "object") continue;
    if (Array.isArray(v)) {
      v.forEach((child, i) => {
        out.push({ parent: v, key: i });
        todo.push(child);
      });
    } else {
      for (const [k, child] of Object.entries(v)) {
        out.push({ parent: v as Record<string, unknown>, key: k });
        todo.push(child);
      }
    }
  }
  return out;
}

/** Apply mutations to a deep copy of `sample`; pure and deterministic for a given list. */
export function applyMutations(sample: unknown, mutations: readonly Mutation[]): unknown {
  let doc: unknown = structuredClone(sample);
  for (const original of mutations) {
    // A copy: constant values are shared between runs and must not be mutated (nor inserted into themselves).
    const m = { ...original, value: structuredClone(original.value) };
    const all = slots(doc);
    const slot = all[m.at % all.length]!;
    const get = () => ("root" in slot ? doc : (slot.parent as Record<string | number, unknown>)[slot.key]);
    const put = (v: unknown) => {
      if ("root" in slot) doc = v;
      else (slot.parent as Record<string | number, unknown>)[slot.key] = v;
    };
    switch (m.op) {
      case "set":
        put(m.value);
        break;
      case "delete":
        if ("root" in slot) doc = undefined;
        else if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1);
        else delete (slot.parent as Record<string, unknown>)[slot.key as string];
        break;
      case "add": {
        const target = get();
        if (Array.isArray(target)) target.push(m.value);
        else if (target !== null && typeof target === "object") (target as Record<string, unknown>)[m.key] = m.value;
        else put(m.value);
        break;
      }
      case "wrap":
        put(m.at % 2 === 0 ? [get()] : { [m.key]: get() });
        break;
    }
  }
  return doc;
}

/** A realistic config.json: every part create reads (process, mounts, hooks, annotations, linux). */
export function baseConfig(): OciSpec {
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0, additionalGids: [1, 2] },
      args: ["/bin/sh", "-c", "echo hi"],
      env: ["PATH=/usr/bin:/bin", "TERM=xterm"],
      cwd: "/",
      capabilities: { bounding: ["CAP_CHOWN"], effective: ["CAP_CHOWN"], permitted: ["CAP_CHOWN"] },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs", readonly: true },
    hostname: "fuzz",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "size=64m"] },
      { destination: "/data", type: "bind", source: "data", options: ["rbind", "ro"] },
    ],
    hooks: { poststop: [{ path: "/bin/true", args: ["true"], timeout: 5 }] },
    annotations: { "io.kubernetes.cri.container-type": "container", "example.com/a": "b" },
    linux: {
      namespaces: [{ type: "pid" }, { type: "mount" }, { type: "network" }],
      resources: { memory: { limit: 67108864 }, cpu: { shares: 512 }, pids: { limit: 100 } },
      cgroupsPath: "/fuzz/c1",
      maskedPaths: ["/proc/kcore"],
      readonlyPaths: ["/proc/sys"],
      sysctl: { "net.ipv4.ip_forward": "0" },
    },
  };
}

export const CONFIG_KEYS = [
  "ociVersion",
  "process",
  "args",
  "env",
  "cwd",
  "user",
  "uid",
  "gid",
  "terminal",
  "consoleSize",
  "capabilities",
  "rlimits",
  "root",
  "path",
  "readonly",
  "mounts",
  "destination",
  "source",
  "options",
  "type",
  "annotations",
  "hooks",
  "prestart",
  "createRuntime",
  "poststop",
  "timeout",
  "linux",
  "namespaces",
  "resources",
  "memory",
  "limit",
  "cgroupsPath",
  "hostname",
  "sysctl",
  "uidMappings",
  "devices",
] as const;

const user = { uid: 0, gid: 0 };
const proc = { user, cwd: "/", args: ["/bin/true"] };
const spec = { ociVersion: "1.0.2", root: { path: "/run/husk/shared/c1/rootfs" }, process: proc };

/** A valid request for every agent method (stdio without streams: the fuzzer looks at replies). */
export const SAMPLE_REQUESTS: { [M in MethodName]: MethodRequest<M> } = {
  version: {},
  guestDetails: {},
  createContainer: { containerId: "c1", spec, stdio: { terminal: false } },
  startContainer: { containerId: "c1" },
  removeContainer: { containerId: "c1", force: true },
  exec: { containerId: "c1", execId: "e1", process: proc, stdio: { terminal: false } },
  signalProcess: { containerId: "c1", signal: 15 },
  waitProcess: { containerId: "c1", execId: "e1" },
  listProcesses: { containerId: "c1" },
  pauseContainer: { containerId: "c1" },
  resumeContainer: { containerId: "c1" },
  stats: { containerId: "c1" },
  updateContainer: { containerId: "c1", resources: { pids: { limit: 10 } } },
  writeStdin: { containerId: "c1", data: "aGk=" },
  closeStdin: { containerId: "c1" },
  resizeTty: { containerId: "c1", rows: 24, cols: 80 },
  updateInterfaces: { interfaces: [{ name: "eth0", mtu: 1500, addresses: [{ address: "10.0.0.2", prefixLength: 24 }] }] },
  updateRoutes: { routes: [{ destination: "default", gateway: "10.0.0.1", device: "eth0" }] },
  cloneInit: { hostname: "h", unixTimeMs: 1, entropy: `${"A".repeat(43)}=` },
  debugConsole: { execId: "e2", stdio: { terminal: false }, env: ["TERM=xterm"] },
  shutdown: {},
};

/** A valid response for every agent method: the seeds the guest fuzzer mutates. */
export const SAMPLE_RESPONSES: { [M in MethodName]: MethodResponse<M> } = {
  version: { agentVersion: "0.1.0", commit: "abc", protocolVersion: 1 },
  guestDetails: { agentVersion: "0.1.0", kernelRelease: "6.1.0", cpus: 1, memTotalKiB: 500000, memFreeKiB: 400000, uptimeSec: 1.5 },
  createContainer: { pid: 42 },
  startContainer: {},
  removeContainer: {},
  exec: { pid: 43 },
  signalProcess: {},
  waitProcess: { exitCode: 137, signal: 9 },
  listProcesses: {
    processes: [{ pid: 1, ppid: 0, user: "root", state: "S", command: "/bin/sh", tty: "pts/0", startTime: 1, cpuSeconds: 0.1 }],
  },
  pauseContainer: {},
  resumeContainer: {},
  stats: {
    cpu: { usageUsec: 1, userUsec: 1, systemUsec: 0 },
    memory: { usageBytes: 4096, limitBytes: 8192 },
    pids: { current: 1, limit: 10 },
  },
  updateContainer: {},
  writeStdin: { written: 2 },
  closeStdin: {},
  resizeTty: {},
  updateInterfaces: {},
  updateRoutes: {},
  cloneInit: {},
  debugConsole: { pid: 44 },
  shutdown: {},
};

export const SAMPLE_EVENTS = {
  processExit: { containerId: "c1", execId: "e1", exitCode: 0, signal: 9 },
  oom: { containerId: "c1" },
} as const;

export const MESSAGE_KEYS = [
  "pid",
  "exitCode",
  "signal",
  "processes",
  "command",
  "agentVersion",
  "protocolVersion",
  "cpu",
  "memory",
  "usageBytes",
  "written",
  "containerId",
  "execId",
  "code",
  "message",
  "event",
  "payload",
] as const;
