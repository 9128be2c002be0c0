import * as v from "valibot";

/**
 * husk's own configuration file (TOML, default /etc/husk/config.toml).
 * Every key has a default, so no file at all is a valid configuration.
 * Unknown keys are errors (strict objects): a typo must not pass silently.
 */

export const DEFAULT_CONFIG_PATH = "/etc/husk/config.toml";
export const DEFAULT_ROOT = "/run/husk";
/** Where `husk image build` writes and where the hypervisor section points by default. */
export const DEFAULT_IMAGE_DIR = "/var/lib/husk/image";

const posInt = (max: number) => v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(max));

export const HypervisorConfigSchema = v.strictObject({
  /** QEMU binary: a path or a name looked up on PATH. */
  path: v.optional(v.string(), "qemu-system-x86_64"),
  kernel: v.optional(v.string(), `${DEFAULT_IMAGE_DIR}/vmlinux`),
  initrd: v.optional(v.string(), `${DEFAULT_IMAGE_DIR}/initramfs.cpio`),
  /** Optional read-only disk image with the agent (empty: none). */
  image: v.optional(v.string(), ""),
  machine: v.optional(v.picklist(["microvm", "q35", "pc"]), "microvm"),
  vcpus: v.optional(posInt(256), 1),
  memory_mib: v.optional(v.pipe(v.number(), v.integer(), v.minValue(64), v.maxValue(1024 * 1024)), 512),
  accelerator: v.optional(v.picklist(["auto", "kvm", "tcg"]), "auto"),
  kernel_params: v.optional(v.array(v.string()), []),
  /** TCG (no KVM): QEMU's translation cache per VM, in MiB; host memory every VM pays. */
  tcg_cache_mib: v.optional(posInt(4096), 64),
  boot_timeout_ms: v.optional(posInt(3_600_000), 60_000),
  stop_timeout_ms: v.optional(posInt(600_000), 10_000),
});

export const AgentConfigSchema = v.strictObject({
  /**
   * The guest agent logs at debug level to the guest console (the sandbox's
   * console.log on the host): the kernel gets husk.debug=1 and the guest init
   * passes it on. Part of the VM's command line, so a template of its own.
   */
  debug: v.optional(v.boolean(), false),
});

export const RuntimeConfigSchema = v.strictObject({
  root: v.optional(v.pipe(v.string(), v.startsWith("/", "must be an absolute path")), DEFAULT_ROOT),
});

/** Where VM templates live by default: a tmpfs (guest RAM files), present on every Linux host. */
export const DEFAULT_FACTORY_DIR = "/dev/shm/husk-factory";

export const FactoryConfigSchema = v.strictObject({
  /** Start sandboxes as clones of a booted, agent-ready VM template (src/factory/). */
  template: v.optional(v.boolean(), true),
  /** Templates' directory; must be on a tmpfs (each holds a guest-RAM-sized file). */
  dir: v.optional(v.pipe(v.string(), v.startsWith("/", "must be an absolute path")), DEFAULT_FACTORY_DIR),
  /** Templates kept (each holds its guest's touched RAM in the tmpfs); a new one evicts the least recently used. */
  max_templates: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(64)), 8),
});

export const PluginConfigSchema = v.strictObject({
  enabled: v.optional(v.boolean(), true),
  /** A .ts/.js file for external plugins; absent for bundled ones. */
  path: v.optional(v.string()),
  /** Validated by the plugin's own schema. */
  options: v.optional(v.record(v.string(), v.unknown()), {}),
});

export const DebugConfigSchema = v.strictObject({
  /**
   * `husk debug-console ID`: an interactive root shell in a sandbox's guest
   * VM, outside every container. Off by default: whoever can run husk gets
   * root in every guest with it.
   */
  console: v.optional(v.boolean(), false),
});

export const HuskConfigSchema = v.strictObject({
  hypervisor: v.optional(HypervisorConfigSchema, {}),
  agent: v.optional(AgentConfigSchema, {}),
  runtime: v.optional(RuntimeConfigSchema, {}),
  factory: v.optional(FactoryConfigSchema, {}),
  debug: v.optional(DebugConfigSchema, {}),
  plugins: v.optional(v.record(v.string(), PluginConfigSchema), {}),
});

export type HuskConfig = v.InferOutput<typeof HuskConfigSchema>;
export type HypervisorConfig = v.InferOutput<typeof HypervisorConfigSchema>;
export type AgentConfig = v.InferOutput<typeof AgentConfigSchema>;
export type FactoryConfig = v.InferOutput<typeof FactoryConfigSchema>;
