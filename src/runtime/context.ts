import { createContext, type RuntimeContext } from "../core/ports.ts";
import { PluginError } from "../host/errors.ts";
import { logger } from "../host/log.ts";
import { MonitorBackend } from "../monitor/backend.ts";
import { createLifecycle } from "../plugins/index.ts";
import { ShimLauncher, type ShimLauncherOptions } from "../shim/launcher.ts";
import type { HuskConfig } from "../config/schema.ts";

/**
 * The real RuntimeContext for the CLI and the shim v2: configuration,
 * the monitor backend (a detached `husk monitor` per sandbox owns QEMU), the
 * shim launcher, and the lifecycle running OCI hooks and plugins.
 */
export interface Runtime {
  ctx: RuntimeContext;
  launcher: ShimLauncher;
}

const log = logger("cli");

export interface RuntimeOptions {
  config: HuskConfig;
  /** Global flags every spawned `husk shim` / `husk monitor` must get again (--root, --config, --debug...). */
  globalArgs: string[];
  /** Plugins named on the command line (--plugin), over the config's. */
  pluginPaths?: string[];
  /** --debug: the monitor logs at debug level too. */
  debug?: boolean;
  /**
   * For commands that clean up (delete): an external plugin that fails to
   * load must not keep a container from being deleted, so go on without the
   * external plugins (bundled ones and the bundle's OCI hooks still run).
   */
  tolerateBrokenPlugins?: boolean;
  /** The shim v2: each launched process's stdio (containerd's fifos) instead of this process's. */
  stdioFor?: ShimLauncherOptions["stdioFor"];
}

export async function realRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { config } = options;
  const launcher = new ShimLauncher({ globalArgs: options.globalArgs, ...(options.stdioFor ? { stdioFor: options.stdioFor } : {}) });
  const lifecycle = await createLifecycle({ config, ...(options.pluginPaths ? { extraPluginPaths: options.pluginPaths } : {}) }).catch(
    async (e: unknown) => {
      if (!options.tolerateBrokenPlugins || !(e instanceof PluginError)) throw e;
      log.warn(`${e.message}; going on without external plugins`);
      const bundledOnly = Object.fromEntries(Object.entries(config.plugins).filter(([, p]) => p.path === undefined));
      return createLifecycle({ config: { ...config, plugins: bundledOnly } });
    },
  );
  const ctx = createContext({
    config,
    backend: new MonitorBackend({
      stopTimeoutMs: config.hypervisor.stop_timeout_ms,
      ...(config.factory.template ? { factory: { dir: config.factory.dir } } : {}),
      // --debug reaches the monitor's log (<sandbox>/monitor.log) through the environment.
      ...(options.debug ? { env: { HUSK_LOG_LEVEL: "4" } } : {}),
    }),
    launcher,
    lifecycle,
    // The guest runs the agent from the image's agent/ directory (a copy of
    // husk made by `husk image build`), never a host directory of our own:
    // the guest is untrusted and sees whatever directory is exported.
  });
  return { ctx, launcher };
}
