import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { MonitorError } from "../host/errors.ts";
import { logger } from "../host/log.ts";
import { MONITOR_LOG } from "../host/layout.ts";

/** Starting the detached `husk monitor` process: the only place it is spawned. */

const log = logger("monitor");

/**
 * `<command> monitor <sid> --root <root>` in its own session (setsid), stdio
 * to <dir>/monitor.log, not waited for: it outlives the CLI that starts it.
 */
export function spawnMonitor(command: string[], root: string, sandboxId: string, dir: string, env?: Record<string, string>): number {
  const fd = openSync(join(dir, MONITOR_LOG), "a", 0o600);
  try {
    const argv = [...command, "monitor", sandboxId, "--root", root];
    log.debug(`spawn ${argv.join(" ")}`);
    let child: ReturnType<typeof Bun.spawn>;
    try {
      child = Bun.spawn(argv, {
        cwd: dir,
        detached: true,
        stdio: ["ignore", fd, fd],
        env: { ...process.env, ...env },
      });
    } catch (err) {
      throw new MonitorError(`cannot start the sandbox monitor (${argv[0]}): ${(err as Error).message}`, { cause: err });
    }
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}
