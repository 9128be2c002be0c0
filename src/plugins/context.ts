import { PluginError } from "../host/errors.ts";
import type { Agent } from "../agent/types.ts";
import { SpecSchema, type OciSpec } from "../oci/spec.ts";
import { parseOr } from "../host/valid.ts";
import type { ContainerPhaseContext, SandboxPhaseContext } from "../core/ports.ts";
import { frozenCopy } from "./freeze.ts";
import type { PluginScope } from "./host.ts";
import type { VmNic } from "../hypervisor/types.ts";
import {
  PLUGIN_AGENT_METHODS,
  type ContainerPostContext,
  type ContainerPrestartContext,
  type FrozenSpec,
  type PluginAgent,
  type SandboxPoststopContext,
  type SandboxPrestartContext,
} from "./types.ts";

/** Builders of the contexts plugins see, from the lifecycle's contexts. */

export interface VmSize {
  vcpus: number;
  memoryMib: number;
}

const ALLOWED: ReadonlySet<string> = new Set(PLUGIN_AGENT_METHODS);

/** The agent as plugins get it: only the calls in PLUGIN_AGENT_METHODS, checked at run time too. */
export function restrictAgent(agent: Agent | undefined, plugin: string): PluginAgent | undefined {
  if (!agent) return undefined;
  return {
    call(method, request) {
      if (!ALLOWED.has(method)) {
        return Promise.reject(new PluginError(`plugin "${plugin}": agent method "${method}" is not allowed to plugins`));
      }
      return agent.call(method, request);
    },
  };
}

function base(scope: PluginScope, ctx: SandboxPhaseContext | ContainerPhaseContext) {
  return {
    plugin: scope.plugin,
    options: scope.options,
    log: scope.log,
    run: scope.run,
    sandboxId: ctx.sandboxId,
    sandboxDir: ctx.sandboxDir,
    ...(ctx.bundle !== undefined ? { bundle: ctx.bundle } : {}),
    ...(ctx.netnsPath !== undefined ? { netnsPath: ctx.netnsPath } : {}),
  };
}

export function sandboxPrestartContext(scope: PluginScope, ctx: SandboxPhaseContext, vm: VmSize, nics?: VmNic[]): SandboxPrestartContext {
  return {
    ...base(scope, ctx),
    ...(ctx.spec ? { spec: frozenCopy(ctx.spec) } : {}),
    vm: { ...vm },
    ...(ctx.netnsPath && nics ? { plugNic: (nic: VmNic) => void nics.push({ tap: nic.tap, ...(nic.mac ? { mac: nic.mac } : {}) }) } : {}),
  };
}

export function sandboxPoststopContext(scope: PluginScope, ctx: SandboxPhaseContext): SandboxPoststopContext {
  return { ...base(scope, ctx), ...(ctx.spec ? { spec: frozenCopy(ctx.spec) } : {}) };
}

export function containerPostContext(scope: PluginScope, ctx: ContainerPhaseContext, spec: FrozenSpec): ContainerPostContext {
  const agent = restrictAgent(ctx.agent, scope.plugin);
  return {
    ...base(scope, ctx),
    bundle: ctx.bundle,
    containerId: ctx.containerId,
    state: Object.freeze({ ...ctx.state }),
    spec,
    ...(agent ? { agent } : {}),
  };
}

/**
 * The spec being built during create: shared by all plugins of the phase, so
 * an amendment is visible to the hooks after it. Each amendment is validated
 * against the OCI schema; an invalid result is refused naming the plugin and
 * the field, and the spec stays as it was.
 */
export class SpecDraft {
  private current: OciSpec;
  private frozen: FrozenSpec;
  constructor(spec: OciSpec) {
    this.current = structuredClone(spec);
    this.frozen = frozenCopy(this.current);
  }
  get spec(): FrozenSpec {
    return this.frozen;
  }
  result(): OciSpec {
    return structuredClone(this.current);
  }
  amend(plugin: string, fn: (draft: OciSpec) => OciSpec | void): void {
    const draft = structuredClone(this.current);
    const next = fn(draft) ?? draft;
    this.current = parseOr(SpecSchema, next, ({ path, message }) => {
      const field = path || "(spec)";
      return new PluginError(`plugin "${plugin}": amended spec is invalid at "${field}": ${message}`, { details: { plugin, field } });
    });
    this.frozen = frozenCopy(this.current);
  }
}

export function containerPrestartContext(
  scope: PluginScope,
  ctx: ContainerPhaseContext,
  draft: SpecDraft,
  vm: VmSize,
  rootfs: string | undefined,
): ContainerPrestartContext {
  const post = containerPostContext(scope, ctx, draft.spec);
  const out = {
    ...post,
    vm: { ...vm },
    ...(rootfs !== undefined ? { rootfs } : {}),
    amend: (fn: (d: OciSpec) => OciSpec | void) => draft.amend(scope.plugin, fn),
  };
  // `spec` follows amendments made by this or earlier plugins.
  Object.defineProperty(out, "spec", { get: () => draft.spec, enumerable: true });
  return out as ContainerPrestartContext;
}
