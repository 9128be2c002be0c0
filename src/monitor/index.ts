import { existsSync } from "node:fs";
import { UsageError } from "../host/errors.ts";
import { validateId } from "../host/ids.ts";
import { logger } from "../host/log.ts";
import { DEFAULT_ROOT } from "../config/schema.ts";
import { sandboxDir } from "../host/layout.ts";
import { SandboxMonitor, type MonitorOptions } from "./monitor.ts";

export { MonitorBackend, forceStopVm, type MonitorBackendOptions } from "./backend.ts";
export { readVmState, type VmState, type VmConfig } from "./files.ts";
export { VM_STATE_FILE, VM_CONFIG_FILE, MONITOR_SOCKET } from "../host/layout.ts";
export { MONITOR_METHODS } from "./methods.ts";
export { SandboxMonitor } from "./monitor.ts";

const log = logger("monitor");

export interface RunMonitorOptions {
  root: string;
  sandboxId: string;
  hypervisor?: MonitorOptions["hypervisor"];
}

/** `husk monitor <sid> [--root DIR]` arguments (what follows "monitor"). */
export function parseMonitorArgs(argv: readonly string[]): RunMonitorOptions {
  let root: string | undefined;
  let sandboxId: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--root") root = argv[++i];
    else if (a.startsWith("--root=")) root = a.slice(7);
    else if (a.startsWith("-")) throw new UsageError(`husk monitor: unknown flag ${a}`);
    else if (sandboxId === undefined) sandboxId = a;
    else throw new UsageError(`husk monitor: unexpected argument ${a}`);
  }
  if (sandboxId === undefined) throw new UsageError("usage: husk monitor <sandbox-id> [--root DIR]");
  if (root !== undefined && !root.startsWith("/")) throw new UsageError("husk monitor: --root must be an absolute path");
  return { root: root ?? DEFAULT_ROOT, sandboxId: validateId(sandboxId, "sandbox id") };
}

/**
 * Entry of the hidden `husk monitor` command. Given argv (from the CLI) it
 * runs as the monitor process: boots, serves until the VM ends, then exits
 * the process (exit code 1 after a failed boot; the error is in
 * vm-state.json for the CLI that started it). Given options (tests) it
 * resolves with the exit code instead of exiting.
 */
export async function runMonitor(args: readonly string[] | RunMonitorOptions): Promise<number> {
  const asProcess = Array.isArray(args);
  const opts = asProcess ? parseMonitorArgs(args as readonly string[]) : (args as RunMonitorOptions);
  const dir = sandboxDir(opts.root, opts.sandboxId);
  if (!existsSync(dir)) throw new UsageError(`husk monitor: sandbox directory ${dir} does not exist`);
  const monitor = new SandboxMonitor({ dir, hypervisor: opts.hypervisor });
  const onSignal = (sig: string) => {
    log.info(`monitor: ${sig}, stopping the sandbox`);
    void monitor.terminate();
  };
  const onHup = () => log.debug("monitor: SIGHUP ignored");
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  process.on("SIGHUP", onHup);
  try {
    await monitor.start().catch(() => {}); // recorded in vm-state.json; the exit code says it
    const code = await monitor.done;
    if (asProcess) process.exit(code);
    return code;
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    process.off("SIGHUP", onHup);
  }
}
