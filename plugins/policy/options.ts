import * as v from "valibot";

/**
 * Policy rules. Every rule is off unless configured, so the bundled plugin
 * admits everything until an operator writes [plugins.policy.options].
 */
const absDirs = v.array(v.pipe(v.string(), v.startsWith("/", "must be an absolute path")));
const cap = v.pipe(v.string(), v.regex(/^CAP_[A-Z_]+$/, "must be a capability name like CAP_NET_ADMIN"));
const pos = v.pipe(v.number(), v.integer(), v.minValue(1));

export const PolicyOptionsSchema = v.strictObject({
  /** Refuse privileged containers (see PRIVILEGED_CAPS and the device rule in rules.ts). */
  refuse_privileged: v.optional(v.boolean(), false),
  /** Refuse containers sharing a host namespace (missing pid/ipc/uts/mount/network entry, or a path to the host's). */
  refuse_host_namespaces: v.optional(v.boolean(), false),
  /** Bind-mount sources must be under one of these (absent: any). */
  allowed_host_paths: v.optional(absDirs),
  /** Capabilities allowed beyond DEFAULT_CAPS (absent: any). */
  allowed_capabilities: v.optional(v.array(cap)),
  /** The rootfs must be under one of these (absent: anywhere). */
  allowed_rootfs_dirs: v.optional(absDirs),
  require_memory_limit: v.optional(v.boolean(), false),
  require_cpu_limit: v.optional(v.boolean(), false),
  /** Cap on the VM's vCPUs and on a container's CPU limit (quota/period, rounded up). */
  max_vcpus: v.optional(pos),
  /** Cap on the VM's memory and on a container's memory limit, in MiB. */
  max_memory_mib: v.optional(pos),
});
export type PolicyOptions = v.InferOutput<typeof PolicyOptionsSchema>;
