import type { OciSpec, OciState } from "./oci/spec.ts";
import type { Agent } from "./agent/types.ts";
import type { VmNetwork } from "./hypervisor/types.ts";

/**
 * The extension points the lifecycle core (src/api.ts) calls at fixed moments.
 * The real implementation (src/plugins/lifecycle.ts) runs the bundle's OCI
 * hooks and the loaded TypeScript plugins; NOOP_LIFECYCLE is for tests that
 * do not care. The order inside each point follows the OCI runtime spec.
 *
 * Methods documented "aborts" may throw: the api undoes the operation.
 * Methods documented "warns" must not throw: failures are logged.
 */

export interface SandboxPhaseContext {
  sandboxId: string;
  /** <root>/sandboxes/<sid> */
  sandboxDir: string;
  /** Spec of the sandbox's first container, when there is one. */
  spec?: OciSpec;
  bundle?: string;
  /** Network namespace path from the spec, when it names one. */
  netnsPath?: string;
  /** Present once the VM is up (absent at sandbox:prestart). */
  agent?: Agent;
}

export interface ContainerPhaseContext {
  sandboxId: string;
  sandboxDir: string;
  containerId: string;
  bundle: string;
  /**
   * The container's spec. At `containerCreate` it may be amended (plugins'
   * documented API); later phases receive a frozen copy.
   */
  spec: OciSpec;
  /** The OCI state hooks receive on stdin (status as of this phase). */
  state: OciState;
  netnsPath?: string;
  agent?: Agent;
}

/** What sandbox prestart adds to the VM before it boots. */
export interface SandboxPrestartResult {
  /** NICs plugged by plugins (`ctx.plugNic`), in the sandbox's network namespace. */
  network?: VmNetwork;
}

export interface Lifecycle {
  /** Before the VM boots. Plugins `sandbox:prestart`. Aborts. May add NICs to the VM. */
  sandboxPrestart(ctx: SandboxPhaseContext): Promise<SandboxPrestartResult | void>;
  /**
   * During create, before the agent creates the container, in this order:
   * plugins `policy:admit`, `storage:mount`, `container:prestart`.
   * May return an amended spec. Aborts (and undoes its own storage).
   */
  containerCreate(ctx: ContainerPhaseContext): Promise<OciSpec>;
  /**
   * During create, once the guest has created the container (ctx.state has
   * status "created" and the container's pid, as the runtime spec requires
   * on a hook's stdin): OCI prestart, OCI createRuntime, plugins
   * `network:attach`, OCI createContainer. Aborts (the core then removes
   * the container; its own network/storage work is undone).
   */
  containerCreated(ctx: ContainerPhaseContext): Promise<void>;
  /** During start, before the user process runs: OCI startContainer hooks. Aborts. */
  containerStart(ctx: ContainerPhaseContext): Promise<void>;
  /** After the user process started: OCI poststart, plugins `container:poststart`. Warns. */
  containerPoststart(ctx: ContainerPhaseContext): Promise<void>;
  /** After the container is deleted (or its create was undone): OCI poststop, plugins `container:poststop`. Warns. */
  containerPoststop(ctx: ContainerPhaseContext): Promise<void>;
  /** After the VM is gone. Plugins `sandbox:poststop`. Warns. */
  sandboxPoststop(ctx: SandboxPhaseContext): Promise<void>;
}

export const NOOP_LIFECYCLE: Lifecycle = {
  async sandboxPrestart() {},
  async containerCreate(ctx) {
    return ctx.spec;
  },
  async containerCreated() {},
  async containerStart() {},
  async containerPoststart() {},
  async containerPoststop() {},
  async sandboxPoststop() {},
};
