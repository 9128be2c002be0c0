import * as v from "valibot";
import { jsonShapeProblem, LIMITS, overLimit, quote, utf8Bytes } from "./limits.ts";

/**
 * OCI runtime-spec config.json (v1.x), validated at the boundary. Objects are
 * loose: the spec says unknown properties must be ignored, and we pass them
 * through to crun in the guest unchanged.
 */

/**
 * No error message echoes a whole input: valibot's default messages quote a
 * string it received in full ("Expected Object but received "…""), so a
 * 3 MB string of the wrong type made a 3 MB error. Process-wide (valibot's
 * global message), so every schema of husk gets it: the first 64 characters
 * and the length.
 */
v.setGlobalMessage((issue) => {
  const { message, received, input } = issue;
  if (typeof input !== "string" || received.length <= 66) return message;
  return message.replace(received, quote(input));
});

const uint = v.pipe(v.number(), v.integer(), v.minValue(0));
const int = v.pipe(v.number(), v.integer());
const strs = v.array(v.string());

/*
 * Bounds (./limits.ts, docs/limits.md) live in the schemas, so every door that
 * validates a spec or a process gets them: config.json, the API, a plugin's
 * amended spec, `exec --process`, the shim and agent protocols.
 */

/** One argument or one variable: execve refuses one longer than MAX_ARG_STRLEN. */
const argString = (what: string) =>
  v.pipe(
    v.string(),
    v.check(
      (s) => s.length * 3 <= LIMITS.argBytes || utf8Bytes(s) <= LIMITS.argBytes,
      (issue) => `the ${what} is ${utf8Bytes(issue.input as string)} bytes, ${overLimit(LIMITS.argBytes)} of one ${what} (MAX_ARG_STRLEN)`,
    ),
  );

/** A path: never longer than PATH_MAX, so no message quotes more and no syscall is handed one it must refuse. */
const pathString = v.pipe(
  v.string(),
  v.check(
    (s) => s.length * 3 <= LIMITS.pathBytes || utf8Bytes(s) <= LIMITS.pathBytes,
    (issue) => `the path is ${utf8Bytes(issue.input as string)} bytes, ${overLimit(LIMITS.pathBytes)} (PATH_MAX)`,
  ),
);
const paths = v.array(pathString);

/** Bytes execve counts for an environment: each "KEY=VALUE" and its NUL. */
export function envBytes(env: readonly string[]): number {
  let n = 0;
  for (const e of env) n += utf8Bytes(e) + 1;
  return n;
}

const envList = v.pipe(
  v.array(argString("variable")),
  v.check(
    (env) => envBytes(env) <= LIMITS.envBytes,
    (issue) => `the environment is ${envBytes(issue.input as string[])} bytes, ${overLimit(LIMITS.envBytes)}`,
  ),
);

/** Keys and values, as Kubernetes counts a pod's annotations. */
export function annotationBytes(annotations: Readonly<Record<string, string>>): number {
  let n = 0;
  for (const [k, val] of Object.entries(annotations)) n += utf8Bytes(k) + utf8Bytes(val);
  return n;
}

export const AnnotationsSchema = v.pipe(
  v.record(v.string(), v.string()),
  v.check(
    (a) => annotationBytes(a) <= LIMITS.annotationsBytes,
    (issue) => {
      const a = issue.input as Record<string, string>;
      return `${Object.keys(a).length} annotations of ${annotationBytes(a)} bytes (keys and values), ${overLimit(LIMITS.annotationsBytes)}`;
    },
  ),
);

/** Not deeper than LIMITS.jsonDepth, not longer than maxBytes as compact JSON. */
function boundedJson<T>(what: string, maxBytes: number) {
  return v.check<T, v.ErrorMessage<v.CheckIssue<T>>>(
    (value) => jsonShapeProblem(value, maxBytes, what) === undefined,
    (issue) => jsonShapeProblem(issue.input, maxBytes, what) ?? `${what} is out of bounds`,
  );
}

export const HookSchema = v.looseObject({
  path: v.pipe(pathString, v.startsWith("/", "hook path must be absolute")),
  args: v.optional(strs),
  env: v.optional(strs),
  timeout: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1, "hook timeout must be positive"))),
});
export type Hook = v.InferOutput<typeof HookSchema>;

export const HOOK_PHASES = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"] as const;
export type HookPhase = (typeof HOOK_PHASES)[number];

export const HooksSchema = v.looseObject({
  prestart: v.optional(v.array(HookSchema)),
  createRuntime: v.optional(v.array(HookSchema)),
  createContainer: v.optional(v.array(HookSchema)),
  startContainer: v.optional(v.array(HookSchema)),
  poststart: v.optional(v.array(HookSchema)),
  poststop: v.optional(v.array(HookSchema)),
});

export const RlimitSchema = v.looseObject({ type: v.string(), hard: uint, soft: uint });

/**
 * Capabilities of the guest kernel (Linux 6.1: 0..40). The spec says a value
 * that cannot be mapped to the kernel MUST be an error; crun in the guest
 * would silently drop an unknown name, so it is refused here.
 */
export const CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
] as const;
const KNOWN_CAPS: ReadonlySet<string> = new Set(CAPABILITIES);
const caps = v.array(
  v.pipe(
    v.string(),
    v.check(
      (c) => KNOWN_CAPS.has(c),
      (issue) => `unknown capability ${quote(issue.input as string)}`,
    ),
  ),
);

export const CapabilitiesSchema = v.looseObject({
  bounding: v.optional(caps),
  effective: v.optional(caps),
  inheritable: v.optional(caps),
  permitted: v.optional(caps),
  ambient: v.optional(caps),
});

export const UserSchema = v.looseObject({
  uid: uint,
  gid: uint,
  umask: v.optional(uint),
  additionalGids: v.optional(v.array(uint)),
  username: v.optional(v.string()),
});

export const ConsoleSizeSchema = v.looseObject({ height: uint, width: uint });

const ProcessObject = v.looseObject({
  terminal: v.optional(v.boolean()),
  consoleSize: v.optional(ConsoleSizeSchema),
  user: UserSchema,
  args: v.optional(v.pipe(v.array(argString("argument")), v.minLength(1, "process.args must not be empty"))),
  commandLine: v.optional(v.string()),
  env: v.optional(envList),
  cwd: v.pipe(pathString, v.startsWith("/", "process.cwd must be absolute")),
  capabilities: v.optional(CapabilitiesSchema),
  rlimits: v.optional(v.array(RlimitSchema)),
  noNewPrivileges: v.optional(v.boolean()),
  apparmorProfile: v.optional(v.string()),
  oomScoreAdj: v.optional(int),
  selinuxLabel: v.optional(v.string()),
});
export const ProcessSchema = v.pipe(ProcessObject, boundedJson<v.InferOutput<typeof ProcessObject>>("the process", LIMITS.specJsonBytes));
export type OciProcess = v.InferOutput<typeof ProcessSchema>;

export const RootSchema = v.looseObject({
  path: v.pipe(pathString, v.minLength(1, "root.path must not be empty")),
  readonly: v.optional(v.boolean()),
});

export const MountSchema = v.looseObject({
  destination: v.pipe(pathString, v.minLength(1)),
  source: v.optional(pathString),
  options: v.optional(strs),
  type: v.optional(v.string()),
  uidMappings: v.optional(v.array(v.unknown())),
  gidMappings: v.optional(v.array(v.unknown())),
});
export type OciMount = v.InferOutput<typeof MountSchema>;

export const NAMESPACE_TYPES = ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"] as const;
export const NamespaceSchema = v.looseObject({
  type: v.picklist(NAMESPACE_TYPES, "unknown namespace type"),
  path: v.optional(pathString),
});

export const IdMappingSchema = v.looseObject({ containerID: uint, hostID: uint, size: uint });

const optNum = v.optional(v.nullable(v.number()));
export const ResourcesSchema = v.looseObject({
  devices: v.optional(
    v.array(
      v.looseObject({
        allow: v.boolean(),
        type: v.optional(v.string()),
        major: v.optional(v.nullable(int)),
        minor: v.optional(v.nullable(int)),
        access: v.optional(v.string()),
      }),
    ),
  ),
  memory: v.optional(
    v.looseObject({
      limit: optNum,
      reservation: optNum,
      swap: optNum,
      kernel: optNum,
      kernelTCP: optNum,
      swappiness: optNum,
      disableOOMKiller: v.optional(v.nullable(v.boolean())),
      useHierarchy: v.optional(v.nullable(v.boolean())),
      checkBeforeUpdate: v.optional(v.nullable(v.boolean())),
    }),
  ),
  cpu: v.optional(
    v.looseObject({
      shares: optNum,
      quota: optNum,
      burst: optNum,
      period: optNum,
      realtimeRuntime: optNum,
      realtimePeriod: optNum,
      cpus: v.optional(v.string()),
      mems: v.optional(v.string()),
      idle: optNum,
    }),
  ),
  pids: v.optional(v.looseObject({ limit: v.number() })),
  blockIO: v.optional(v.looseObject({})),
  hugepageLimits: v.optional(v.array(v.looseObject({ pageSize: v.string(), limit: v.number() }))),
  network: v.optional(v.looseObject({})),
  rdma: v.optional(v.record(v.string(), v.unknown())),
  unified: v.optional(v.record(v.string(), v.string())),
});
export type OciResources = v.InferOutput<typeof ResourcesSchema>;

export const LinuxSchema = v.looseObject({
  namespaces: v.optional(v.array(NamespaceSchema)),
  uidMappings: v.optional(v.array(IdMappingSchema)),
  gidMappings: v.optional(v.array(IdMappingSchema)),
  devices: v.optional(v.array(v.looseObject({ path: pathString, type: v.string() }))),
  cgroupsPath: v.optional(pathString),
  resources: v.optional(ResourcesSchema),
  sysctl: v.optional(v.record(v.string(), v.string())),
  seccomp: v.optional(v.looseObject({})),
  rootfsPropagation: v.optional(v.string()),
  maskedPaths: v.optional(paths),
  readonlyPaths: v.optional(paths),
  mountLabel: v.optional(v.string()),
  personality: v.optional(v.looseObject({})),
  intelRdt: v.optional(v.looseObject({})),
  timeOffsets: v.optional(v.record(v.string(), v.unknown())),
});

const SpecObject = v.looseObject({
  ociVersion: v.pipe(v.string(), v.minLength(1, "ociVersion must not be empty")),
  process: v.optional(ProcessSchema),
  root: v.optional(RootSchema),
  hostname: v.optional(v.string()),
  domainname: v.optional(v.string()),
  mounts: v.optional(
    v.pipe(
      v.array(MountSchema),
      v.maxLength(LIMITS.mounts, (issue) => `${(issue.input as unknown[]).length} mounts, over the limit of ${LIMITS.mounts}`),
    ),
  ),
  hooks: v.optional(HooksSchema),
  annotations: v.optional(AnnotationsSchema),
  linux: v.optional(LinuxSchema),
});
export const SpecSchema = v.pipe(SpecObject, boundedJson<v.InferOutput<typeof SpecObject>>("the spec", LIMITS.specJsonBytes));
export type OciSpec = v.InferOutput<typeof SpecSchema>;

/** The OCI state, as `husk state` prints it and hooks receive it on stdin. */
export const OciStateSchema = v.object({
  ociVersion: v.string(),
  id: v.string(),
  status: v.picklist(["creating", "created", "running", "paused", "stopped"]),
  pid: v.optional(uint),
  bundle: v.string(),
  annotations: v.optional(v.record(v.string(), v.string())),
});
export type OciState = v.InferOutput<typeof OciStateSchema>;

export { OCI_VERSION } from "./version.ts";
