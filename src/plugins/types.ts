import type * as v from "valibot";
import type { ConsolaInstance } from "consola";
import type { Agent } from "../agent/types.ts";
import type { MethodName, MethodRequest, MethodResponse } from "../agent/protocol.ts";
import type { OciSpec, OciState } from "../oci/spec.ts";

/**
 * The plugin API's types. A plugin is `definePlugin({...})` (./define.ts) as
 * the default export of a module; its hooks receive one of the contexts below,
 * built per plugin per call by the host (./host.ts).
 */

export type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** The spec as hooks see it: deep-frozen at run time, readonly in the types. */
export type FrozenSpec = DeepReadonly<OciSpec>;

export interface RunOptions {
  /** Default 30 s; the process gets SIGKILL when it expires. */
  timeoutMs?: number;
  input?: string;
  env?: Record<string, string>;
  cwd?: string;
  /** Do not throw on a non-zero exit (default: throw). */
  allowFailure?: boolean;
  /** Run inside this network namespace (`nsenter --net=PATH`). */
  netns?: string;
}
export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}
/** A host process runner (execa underneath), logging each command at debug level. */
export type ProcessRunner = (file: string, args: readonly string[], options?: RunOptions) => Promise<RunResult>;

/** Guest agent calls a plugin may make: reading and networking, never the container lifecycle. */
export const PLUGIN_AGENT_METHODS = [
  "version",
  "guestDetails",
  "listProcesses",
  "stats",
  "updateInterfaces",
  "updateRoutes",
] as const satisfies readonly MethodName[];
export type PluginAgentMethod = (typeof PLUGIN_AGENT_METHODS)[number];

export interface PluginAgent {
  call<M extends PluginAgentMethod>(method: M, request: MethodRequest<M>): Promise<MethodResponse<M>>;
}

interface BaseContext<O> {
  /** The plugin's name (also the logger's tag). */
  plugin: string;
  /** The plugin's options, as its schema output them. */
  options: O;
  sandboxId: string;
  /** <root>/sandboxes/<sid> on the host. */
  sandboxDir: string;
  bundle?: string;
  netnsPath?: string;
  log: ConsolaInstance;
  run: ProcessRunner;
}

/** sandbox:prestart, policy:sandbox, network:prepare: before the VM boots. No agent yet. */
export interface SandboxPrestartContext<O = unknown> extends BaseContext<O> {
  spec?: FrozenSpec;
  /**
   * The VM size the sandbox will boot with: the configured base grown by the
   * first container's limits, as the core sizes it (core/vmspec.ts).
   */
  vm: { vcpus: number; memoryMib: number };
  /**
   * Give the VM a virtio-net NIC backed by `nic.tap`, a tap device the plugin
   * created in `netnsPath` (QEMU then runs in that namespace). Present only
   * when the spec names a network namespace. NICs appear in the guest as
   * eth0, eth1, ... in the order they were plugged.
   */
  plugNic?(nic: { tap: string; mac?: string }): void;
}

/** sandbox:poststop, network:release: the VM is gone. */
export interface SandboxPoststopContext<O = unknown> extends BaseContext<O> {
  spec?: FrozenSpec;
}

interface ContainerContext<O> extends BaseContext<O> {
  containerId: string;
  bundle: string;
  /** The OCI state of the container as of this phase. */
  state: Readonly<OciState>;
  /** Guest agent (restricted), when the VM is up. */
  agent?: PluginAgent;
}

/**
 * container:prestart and its slices (policy:admit, storage:mount,
 * network:attach). The only phase that may change the spec: `amend(fn)` gets a
 * mutable deep copy (`draft`) to change in place or replace by returning a new
 * spec; the result is validated against the OCI schema and becomes `spec` for
 * the hooks after it and for the guest. Anything else sees a frozen spec.
 */
export interface ContainerPrestartContext<O = unknown> extends ContainerContext<O> {
  readonly spec: FrozenSpec;
  amend(fn: (draft: OciSpec) => OciSpec | void): void;
  /** The configured base VM size (the VM is already up; sandbox hooks see the grown size). */
  vm: { vcpus: number; memoryMib: number };
  /**
   * Host path of the container's rootfs as the bundle names it (resolved
   * against the bundle), whatever guest path `spec.root.path` now holds.
   */
  rootfs?: string;
}

/** container:poststart, container:poststop and the undo slices. */
export interface ContainerPostContext<O = unknown> extends ContainerContext<O> {
  readonly spec: FrozenSpec;
}

/**
 * Every hook a plugin may register, and the context it gets. Slices run at the
 * same lifecycle point as the generic hook, in the order documented in
 * the README (policy first so a refusal leaves nothing behind; undo
 * slices last, in reverse).
 */
// Method syntax on purpose: bivariant parameters let a Plugin<S> with its
// own options type be held as an AnyPlugin by the loader and host.
export interface PluginHooks<O = unknown> {
  "sandbox:prestart"(ctx: SandboxPrestartContext<O>): void | Promise<void>;
  "policy:sandbox"(ctx: SandboxPrestartContext<O>): void | Promise<void>;
  "network:prepare"(ctx: SandboxPrestartContext<O>): void | Promise<void>;
  "policy:admit"(ctx: ContainerPrestartContext<O>): void | Promise<void>;
  "storage:mount"(ctx: ContainerPrestartContext<O>): void | Promise<void>;
  "network:attach"(ctx: ContainerPrestartContext<O>): void | Promise<void>;
  "container:prestart"(ctx: ContainerPrestartContext<O>): void | Promise<void>;
  "container:poststart"(ctx: ContainerPostContext<O>): void | Promise<void>;
  "container:poststop"(ctx: ContainerPostContext<O>): void | Promise<void>;
  "network:detach"(ctx: ContainerPostContext<O>): void | Promise<void>;
  "storage:unmount"(ctx: ContainerPostContext<O>): void | Promise<void>;
  "sandbox:poststop"(ctx: SandboxPoststopContext<O>): void | Promise<void>;
  "network:release"(ctx: SandboxPoststopContext<O>): void | Promise<void>;
}
export type PluginHookName = keyof PluginHooks;

export const PLUGIN_HOOK_NAMES = [
  "sandbox:prestart",
  "policy:sandbox",
  "network:prepare",
  "policy:admit",
  "storage:mount",
  "network:attach",
  "container:prestart",
  "container:poststart",
  "container:poststop",
  "network:detach",
  "storage:unmount",
  "sandbox:poststop",
  "network:release",
] as const satisfies readonly PluginHookName[];

/** Given to `setup` once, after the options are validated. */
export interface SetupContext {
  plugin: string;
  log: ConsolaInstance;
  run: ProcessRunner;
  /** husk's state root (--root). */
  root: string;
}

export type AnySchema = v.GenericSchema<unknown, unknown>;
export type OptionsOf<S> = S extends v.GenericSchema<unknown, infer O> ? O : Record<string, never>;

export interface PluginDefinition<S extends AnySchema | undefined = AnySchema | undefined> {
  /** Lower-case name, unique among loaded plugins; the config section is [plugins.<name>]. */
  name: string;
  description?: string;
  /** valibot schema for `[plugins.<name>].options`; without one, options must be empty. */
  options?: S;
  /** Per hook call limit (default 30 000 ms). */
  timeoutMs?: number;
  setup?(options: OptionsOf<S>, ctx: SetupContext): void | Promise<void>;
  hooks: Partial<PluginHooks<OptionsOf<S>>>;
}

/** What definePlugin returns: the definition, branded so the loader can tell it from any object. */
export type Plugin<S extends AnySchema | undefined = AnySchema | undefined> = PluginDefinition<S> & {
  readonly [PLUGIN_BRAND]: true;
};
export const PLUGIN_BRAND = Symbol.for("husk.plugin");

/**
 * Any plugin whatever its options type (hooks take options contravariantly,
 * so Plugin<S> is not a Plugin<unknown>): what the loader and host hold.
 */
// biome-ignore lint/suspicious/noExplicitAny: a plugin whatever its options' schema (Plugin<S> is invariant in S).
export type AnyPlugin = Plugin<any>;

/** Kept by `Agent` so the lifecycle can hand the right handle to plugins. */
export type { Agent };
