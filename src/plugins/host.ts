import { createHooks, type Hookable } from "hookable";
import type { ConsolaInstance } from "consola";
import { HuskError, PluginError } from "../host/errors.ts";
import { logger } from "../host/log.ts";
import { withTimeout } from "../host/time.ts";
import type { LoadedPlugin } from "./loaded.ts";
import { createRunner } from "./runner.ts";
import type { PluginHookName, PluginHooks, ProcessRunner } from "./types.ts";

/**
 * The plugin host: a hookable registry where each registered callback is a
 * per-plugin wrapper. hookable gives ordered serial calls and typed names; the
 * wrapper adds what a bare registry lacks and a plugin host needs: the
 * plugin's own context (tagged logger, options, runner), a timeout per call,
 * and failures attributed to the plugin, thrown (abort) or logged (warn)
 * according to the lifecycle point.
 */

export const DEFAULT_HOOK_TIMEOUT_MS = 30_000;

export type FailureMode = "abort" | "warn";

/** The per-plugin parts of every context; the rest comes from the phase. */
export interface PluginScope {
  plugin: string;
  options: unknown;
  log: ConsolaInstance;
  run: ProcessRunner;
}

/** Builds the context one plugin sees from the phase's shared input. */
export type ContextFactory<N extends PluginHookName> = (scope: PluginScope) => Parameters<PluginHooks[N]>[0];

type Registry = { [N in PluginHookName]: (make: ContextFactory<N>, mode: FailureMode) => Promise<void> };

export class PluginHost {
  readonly plugins: readonly LoadedPlugin[];
  private readonly hooks: Hookable<Registry> = createHooks<Registry>();

  constructor(plugins: readonly LoadedPlugin[]) {
    this.plugins = plugins;
    for (const p of plugins) {
      if (!p.enabled || !p.plugin) continue;
      const scope = scopeFor(p);
      const timeoutMs = p.plugin.timeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS;
      for (const [name, fn] of Object.entries(p.plugin.hooks) as [PluginHookName, (ctx: unknown) => unknown][]) {
        if (!fn) continue;
        this.hooks.hook(name, async (make: ContextFactory<PluginHookName>, mode: FailureMode) => {
          try {
            await withTimeout(
              Promise.resolve().then(() => fn(make(scope))),
              timeoutMs,
              () =>
                new PluginError(`plugin "${p.name}": hook "${name}" timed out after ${timeoutMs} ms`, {
                  details: { plugin: p.name, hook: name, timeoutMs },
                }),
            );
          } catch (e) {
            const err = attribute(e, p.name, name);
            if (mode === "abort") throw err;
            scope.log.warn(err.message);
          }
        });
      }
    }
  }

  /** Run `setup` of every enabled plugin, in order; a throwing setup is a PluginError naming the plugin. */
  async setup(root: string): Promise<void> {
    for (const p of this.plugins) {
      if (!p.enabled || !p.plugin?.setup) continue;
      const scope = scopeFor(p);
      const timeoutMs = p.plugin.timeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS;
      try {
        await withTimeout(
          Promise.resolve().then(() => p.plugin!.setup!(p.options as never, { plugin: p.name, log: scope.log, run: scope.run, root })),
          timeoutMs,
          () => new PluginError(`plugin "${p.name}": setup timed out after ${timeoutMs} ms`, { details: { plugin: p.name } }),
        );
      } catch (e) {
        if (e instanceof PluginError && e.details?.plugin === p.name) throw e;
        throw new PluginError(`plugin "${p.name}": setup failed: ${(e as Error)?.message ?? e}`, {
          cause: e,
          details: { plugin: p.name },
        });
      }
    }
  }

  /** Call one hook on every plugin that registered it, in plugin order. */
  async call<N extends PluginHookName>(name: N, make: ContextFactory<N>, mode: FailureMode): Promise<void> {
    await this.hooks.callHook(name, ...([make, mode] as unknown as Parameters<Registry[N]>));
  }

  has(name: PluginHookName): boolean {
    return this.plugins.some((p) => p.enabled && p.plugin?.hooks[name]);
  }
}

const scopes = new WeakMap<LoadedPlugin, PluginScope>();
function scopeFor(p: LoadedPlugin): PluginScope {
  let s = scopes.get(p);
  if (!s) {
    const log = logger(`plugin:${p.name}`);
    s = { plugin: p.name, options: p.options, log, run: createRunner(log) };
    scopes.set(p, s);
  }
  return s;
}

/**
 * Deliberate refusals (PolicyError, UnsupportedError, PluginError...) keep their
 * kind and gain the plugin's name in details; anything else becomes a
 * PluginError naming the plugin and hook, with the original as cause.
 */
function attribute(e: unknown, plugin: string, hook: string): HuskError {
  if (e instanceof HuskError && e.code !== "E_INTERNAL" && e.code !== "E_IO" && e.code !== "E_TIMEOUT") {
    Object.assign(e, { details: { plugin, hook, ...e.details } });
    return e;
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new PluginError(`plugin "${plugin}": hook "${hook}" failed: ${msg}`, { cause: e, details: { plugin, hook } });
}
