import { createContext, type RuntimeContext } from "../context.ts";
import { PluginError } from "../errors.ts";
import { logger } from "../log.ts";
import { MonitorBackend } from "../monitor/backend.ts";
import { createLifecycle } from "../plugins/index.ts";
import { ShimLauncher, type ShimLauncherOptions } from "../shim/launcher.ts";
import { globals, globalsToArgv } from "./globals.ts";
import { cliConfig } from "./lib/config.ts";

/**
 * The real RuntimeContext for CLI commands: configuration (file + flags),
 * the monitor backend (a detached `husk monitor` per sandbox owns QEMU), the
 * shim launcher, and the lifecycle running OCI hooks and plugins.
 */
export interface CliRuntime {
  ctx: RuntimeContext;
  launcher: ShimLauncher;
}

const log = logger("cli");

let cached: Promise<CliRuntime> | undefined;

export interface CliRuntimeOptions {
  /**
   * For commands that clean up (delete): an external plugin that fails to
   * load must not keep a container from being deleted, so go on without the
   * external plugins (bundled ones and the bundle's OCI hooks still run).
   */
  tolerateBrokenPlugins?: boolean;
  /** The shim v2: each launched process's stdio (containerd's fifos) instead of this process's. */
  stdioFor?: ShimLauncherOptions["stdioFor"];
}

export function cliRuntime(options: CliRuntimeOptions = {}): Promise<CliRuntime> {
  cached ??= build(options);
  return cached;
}

async function build(options: CliRuntimeOptions): Promise<CliRuntime> {
  const g = globals();
  const config = cliConfig();
  const launcher = new ShimLauncher({ globalArgs: globalsToArgv(g), ...(options.stdioFor ? { stdioFor: options.stdioFor } : {}) });
  const lifecycle = await createLifecycle({ config, extraPluginPaths: g.plugins }).catch(async (e: unknown) => {
    if (!options.tolerateBrokenPlugins || !(e instanceof PluginError)) throw e;
    log.warn(`${e.message}; going on without external plugins`);
    const bundledOnly = Object.fromEntries(Object.entries(config.plugins).filter(([, p]) => p.path === undefined));
    return createLifecycle({ config: { ...config, plugins: bundledOnly } });
  });
  const ctx = createContext({
    config,
    backend: new MonitorBackend({
      stopTimeoutMs: config.hypervisor.stop_timeout_ms,
      ...(config.factory.template ? { factory: { dir: config.factory.dir } } : {}),
      // --debug reaches the monitor's log (<sandbox>/monitor.log) through the environment.
      ...(g.debug ? { env: { HUSK_LOG_LEVEL: "4" } } : {}),
    }),
    launcher,
    lifecycle,
    // The guest runs the agent from the image's agent/ directory (a copy of
    // husk made by `husk image build`), never a host directory of our own:
    // the guest is untrusted and sees whatever directory is exported.
  });
  return { ctx, launcher };
}
