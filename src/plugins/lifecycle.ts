import type { HuskConfig } from "../config/schema.ts";
import { DEFAULT_ROOT } from "../config/schema.ts";
import type { ContainerPhaseContext, Lifecycle, SandboxPhaseContext } from "../core/ports.ts";
import { logger } from "../host/log.ts";
import type { VmNic } from "../hypervisor/types.ts";
import { runHooks } from "../oci/hooks.ts";
import type { HookPhase, OciSpec, OciState } from "../oci/spec.ts";
import {
  containerPostContext,
  containerPrestartContext,
  sandboxPoststopContext,
  sandboxPrestartContext,
  SpecDraft,
  type VmSize,
} from "./context.ts";
import { frozenCopy } from "./freeze.ts";
import { PluginHost, type FailureMode } from "./host.ts";
import { loadPlugins } from "./loader.ts";
import { hostRootfs } from "./rootfs.ts";
import type { AnyPlugin, PluginHookName } from "./types.ts";

/**
 * The real Lifecycle: OCI hooks from the container's spec and plugin hooks,
 * at the points and in the order the README's hook tables give. Before the user
 * process starts, any failure throws (the core undoes); after, failures are
 * logged as warnings and the operation goes on.
 */

const log = logger("lifecycle");

export interface CreateLifecycleInput {
  config: Pick<HuskConfig, "plugins"> & { hypervisor?: Partial<HuskConfig["hypervisor"]>; runtime?: Partial<HuskConfig["runtime"]> };
  /** `--plugin PATH` values. */
  extraPluginPaths?: readonly string[];
  /** Replace the bundled plugins (tests). */
  bundled?: readonly AnyPlugin[];
}

/** Load the plugins the configuration names, run their setup, and return the Lifecycle. */
export async function createLifecycle(input: CreateLifecycleInput): Promise<Lifecycle> {
  const plugins = await loadPlugins({
    config: input.config,
    ...(input.extraPluginPaths ? { extraPluginPaths: input.extraPluginPaths } : {}),
    ...(input.bundled ? { bundled: input.bundled } : {}),
  });
  const host = new PluginHost(plugins);
  await host.setup(input.config.runtime?.root ?? DEFAULT_ROOT);
  return lifecycleFor(host, {
    vcpus: input.config.hypervisor?.vcpus ?? 1,
    memoryMib: input.config.hypervisor?.memory_mib ?? 512,
  });
}

/** Plugin hooks at create; interleaved with the OCI hooks in containerCreate. */
const CREATE_SLICES = ["policy:admit", "storage:mount", "container:prestart"] as const;
/** Undo slices, in reverse of what they undo. */
const STOP_SLICES = ["container:poststop", "network:detach", "storage:unmount"] as const;

export function lifecycleFor(host: PluginHost, vm: VmSize): Lifecycle {
  const stopContainerPlugins = async (ctx: ContainerPhaseContext, slices: readonly PluginHookName[]) => {
    const spec = frozenCopy(ctx.spec);
    for (const name of slices) {
      await host.call(name as "container:poststop", (s) => containerPostContext(s, ctx, spec), "warn");
    }
  };

  return {
    async sandboxPrestart(ctx) {
      // The size the core will boot (limits and overrides applied); the configured base without one.
      const size = ctx.vm ? { vcpus: ctx.vm.vcpus, memoryMib: ctx.vm.memoryMiB } : { ...vm };
      const nics: VmNic[] = [];
      for (const name of ["policy:sandbox", "network:prepare", "sandbox:prestart"] as const) {
        await host.call(name, (s) => sandboxPrestartContext(s, ctx, size, nics), "abort");
      }
      if (nics.length && ctx.netnsPath) return { network: { netns: ctx.netnsPath, nics } };
    },

    async containerCreate(ctx) {
      const draft = new SpecDraft(ctx.spec);
      const rootfs = await hostRootfs(ctx.bundle, ctx.spec.root?.path);
      const plugins = (name: (typeof CREATE_SLICES)[number]) =>
        host.call(name, (s) => containerPrestartContext(s, ctx, draft, vm, rootfs), "abort");
      try {
        // Policy first: a refusal comes before anything is done.
        await plugins("policy:admit");
        await plugins("storage:mount");
        await plugins("container:prestart");
        return draft.result();
      } catch (e) {
        // Undo what plugins did here (idempotent), so nothing is left even if
        // the core's own undo does not reach containerPoststop.
        await stopContainerPlugins({ ...ctx, spec: draft.result() }, ["network:detach", "storage:unmount"]);
        throw e;
      }
    },

    async containerCreated(ctx) {
      // The spec is final here (the guest has it): plugins get it read-only.
      const draft = new SpecDraft(ctx.spec);
      const rootfs = await hostRootfs(ctx.bundle, ctx.spec.root?.path);
      try {
        // prestart before createRuntime: the runtime spec's lifecycle order, and crun's.
        // Both run in the netns, so network hooks set it up before network:attach reads it.
        await runPhase("prestart", ctx.spec, ctx, "abort", ctx.netnsPath);
        await runPhase("createRuntime", ctx.spec, ctx, "abort", ctx.netnsPath);
        await host.call("network:attach", (s) => containerPrestartContext(s, ctx, draft, vm, rootfs), "abort");
        await runPhase("createContainer", ctx.spec, ctx, "abort");
      } catch (e) {
        await stopContainerPlugins(ctx, ["network:detach", "storage:unmount"]);
        throw e;
      }
    },

    async containerStart(ctx) {
      await runPhase("startContainer", ctx.spec, ctx, "abort");
    },

    async containerPoststart(ctx) {
      await guard("poststart", async () => {
        await runPhase("poststart", ctx.spec, ctx, "warn");
        const spec = frozenCopy(ctx.spec);
        await host.call("container:poststart", (s) => containerPostContext(s, ctx, spec), "warn");
      });
    },

    async containerPoststop(ctx) {
      await guard("poststop", async () => {
        await runPhase("poststop", ctx.spec, ctx, "warn");
        await stopContainerPlugins(ctx, STOP_SLICES);
      });
    },

    async sandboxPoststop(ctx: SandboxPhaseContext) {
      await guard("sandbox poststop", async () => {
        for (const name of ["sandbox:poststop", "network:release"] as const) {
          await host.call(name, (s) => sandboxPoststopContext(s, ctx), "warn");
        }
      });
    },
  };
}

async function runPhase(phase: HookPhase, spec: OciSpec, ctx: ContainerPhaseContext, mode: FailureMode, netnsPath?: string): Promise<void> {
  const hooks = spec.hooks?.[phase];
  if (!hooks?.length) return;
  // The id is the container's (Kata passes the sandbox's); status is set per phase by runHooks.
  const state: OciState = { ...ctx.state, id: ctx.containerId, bundle: ctx.state.bundle || ctx.bundle };
  await runHooks(phase, hooks, state, {
    keepGoing: mode === "warn",
    ...(netnsPath ? { netnsPath } : {}),
    log,
  });
}

/** Warn-only phases never throw, whatever goes wrong inside. */
async function guard(what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    log.warn(`${what}: ${(e as Error)?.message ?? e}`);
  }
}
