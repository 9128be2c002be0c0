import { dirname } from "node:path";
import { createContext, type RuntimeContext } from "../context.ts";
import { MonitorBackend } from "../monitor/backend.ts";
import { createLifecycle } from "../plugins/index.ts";
import { ShimLauncher } from "../shim/launcher.ts";
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

let cached: Promise<CliRuntime> | undefined;

export function cliRuntime(): Promise<CliRuntime> {
  cached ??= build();
  return cached;
}

async function build(): Promise<CliRuntime> {
  const g = globals();
  const config = cliConfig();
  const launcher = new ShimLauncher({ globalArgs: globalsToArgv(g) });
  const lifecycle = await createLifecycle({ config, extraPluginPaths: g.plugins });
  // A compiled husk exports its own directory to the guest, which runs it as the agent.
  const compiled = Bun.main.startsWith("/$bunfs");
  const ctx = createContext({
    config,
    backend: new MonitorBackend({
      stopTimeoutMs: config.hypervisor.stop_timeout_ms,
      // --debug reaches the monitor's log (<sandbox>/monitor.log) through the environment.
      ...(g.debug ? { env: { HUSK_LOG_LEVEL: "4" } } : {}),
    }),
    launcher,
    lifecycle,
    ...(compiled ? { agentDir: dirname(process.execPath) } : {}),
  });
  return { ctx, launcher };
}
