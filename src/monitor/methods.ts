import * as v from "valibot";

/**
 * Control methods the monitor answers itself on monitor.sock, next to the
 * agent methods it forwards to the guest. Names carry the "monitor." prefix
 * (MONITOR_PREFIX in src/agent/wire/table.ts).
 */

const empty = v.strictObject({});
const pid = v.pipe(v.number(), v.integer(), v.minValue(1));

export const MONITOR_METHODS = {
  /** Liveness: answers as soon as the monitor serves. */
  "monitor.ping": {
    request: empty,
    response: v.strictObject({ sandboxId: v.pipe(v.string(), v.maxLength(128)), monitorPid: pid, qemuPid: pid }),
  },
  "monitor.status": {
    request: empty,
    response: v.strictObject({ status: v.picklist(["running", "paused", "stopped"]) }),
  },
  "monitor.pause": { request: empty, response: empty },
  "monitor.resume": { request: empty, response: empty },
  /**
   * Shut the VM down: agent shutdown, then QMP powerdown/quit, then SIGKILL
   * after timeoutMs. Answers once QEMU is gone; the monitor exits right after.
   */
  "monitor.stop": {
    request: v.strictObject({ timeoutMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(600_000))) }),
    response: empty,
  },
} as const;

export type MonitorMethods = typeof MONITOR_METHODS;
