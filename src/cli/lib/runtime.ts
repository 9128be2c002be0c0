import {
  createContext,
  NOOP_LIFECYCLE,
  type Lifecycle,
  type ProcessLauncher,
  type RuntimeContext,
  type VmBackend,
} from "../../core/ports.ts";
import type { HuskConfig } from "../../config/schema.ts";
import type { Runtime, RuntimeOptions } from "../../runtime/context.ts";
import { globals, globalsToArgv } from "../globals.ts";
import { cliConfig } from "./config.ts";

let config: HuskConfig | undefined;
let cached: Promise<Runtime> | undefined;

function configOnce(): HuskConfig {
  config ??= cliConfig();
  return config;
}

/** The real runtime for this CLI call, built once from the global flags and the config file. */
export function cliRuntime(options: Pick<RuntimeOptions, "tolerateBrokenPlugins" | "stdioFor"> = {}): Promise<Runtime> {
  const g = globals();
  const cfg = configOnce();
  // Loaded on demand: the monitor backend, shim launcher and plugin host (execa, the QEMU driver) are most of husk.
  cached ??= import("../../runtime/context.ts").then(({ realRuntime }) =>
    realRuntime({
      ...options,
      config: cfg,
      globalArgs: globalsToArgv(g),
      ...(g.plugins ? { pluginPaths: g.plugins } : {}),
      debug: g.debug === true,
    }),
  );
  return cached;
}

/**
 * The context of a command that only reads (state, list), which containerd
 * and podman call constantly: the real runtime is loaded only when a repair
 * needs the VM, a shim or a hook. Only without plugins in the configuration
 * or on the command line: loading those may fail, and that failure must stay
 * the command's, as it is for every other command.
 */
export async function cliReadContext(): Promise<RuntimeContext> {
  const cfg = configOnce();
  if (globals().plugins.length > 0 || Object.keys(cfg.plugins).length > 0) return (await cliRuntime()).ctx;
  const real = async () => (await cliRuntime()).ctx;
  const backend: VmBackend = {
    name: "monitor", // MonitorBackend's; only recorded by a sandbox's create, never by a reader
    boot: async (spec) => (await real()).backend.boot(spec),
    connect: async (spec) => (await real()).backend.connect(spec),
    forceCleanup: async (dir) => (await real()).backend.forceCleanup(dir),
  };
  const launcher: ProcessLauncher = { launch: async (vm, request) => (await real()).launcher.launch(vm, request) };
  const lifecycle = Object.fromEntries(
    (Object.keys(NOOP_LIFECYCLE) as (keyof Lifecycle)[]).map((point) => [
      point,
      async (ctx: never) => (await real()).lifecycle[point](ctx),
    ]),
  ) as unknown as Lifecycle;
  return createContext({ config: cfg, backend, launcher, lifecycle });
}
