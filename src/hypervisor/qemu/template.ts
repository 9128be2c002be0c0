import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { HypervisorError } from "../../host/errors.ts";
import { logger } from "../../host/log.ts";
import { settledWithin } from "../../host/time.ts";
import type { VmSpec } from "../types.ts";
import { qmpFdSocket } from "./args.ts";
import type { QemuProcess } from "./process.ts";
import { QmpFdChannel } from "./qmp-fd.ts";
import type { QmpClient } from "./qmp.ts";

/**
 * The QMP sequences of VM templates (src/factory/), after the prototype in
 * shared/prototypes/: RAM stays in the template's memory file
 * (x-ignore-shared), only the device state (tens of KB) is migrated, to and
 * from <template>/state, opened here and handed to QEMU as an fd (getfd):
 * no shell, no path in a QMP command.
 */

const log = logger("qemu");

const IGNORE_SHARED = { capabilities: [{ capability: "x-ignore-shared", state: true }] };
const FD_NAME = "template-state";

/** Pause the VM and write its device state; resolves once QEMU reports the migration completed. */
export async function saveDeviceState(qmp: QmpClient, proc: QemuProcess, spec: VmSpec, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const fdChannel = await handOver(spec, "w");
  try {
    await qmp.execute("stop");
    await qmp.execute("migrate-set-capabilities", IGNORE_SHARED);
    await fdChannel.execute("migrate", { uri: `fd:${FD_NAME}` });
  } finally {
    fdChannel.close();
  }
  for (;;) {
    const status = migrationStatus(await qmp.execute("query-migrate", undefined, { timeoutMs: 5000 }));
    if (status === "completed") return;
    if (status === "failed" || status === "cancelled") throw new HypervisorError(`saving the template's device state ${status}`);
    await tick(proc, deadline, "saving the template's device state");
  }
}

/** Load the device state into a clone started with -S -incoming defer, then run it. */
export async function restoreDeviceState(qmp: QmpClient, proc: QemuProcess, spec: VmSpec, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const fdChannel = await handOver(spec, "r");
  try {
    await qmp.execute("migrate-set-capabilities", IGNORE_SHARED);
    await fdChannel.execute("migrate-incoming", { uri: `fd:${FD_NAME}` });
  } finally {
    fdChannel.close();
  }
  for (;;) {
    // A failed incoming migration ends QEMU (tick notices); a finished one leaves it paused.
    const s = await qmp.queryStatus({ timeoutMs: 5000 });
    if (s.status !== "inmigrate") {
      if (s.status !== "paused" && s.status !== "postmigrate" && !s.running) {
        throw new HypervisorError(`restoring the template's device state left the VM ${s.status}`);
      }
      break;
    }
    await tick(proc, deadline, "restoring the template's device state");
  }
  await qmp.execute("cont");
  log.debug("clone restored and running");
}

/** Open <template>/state and hand it to QEMU (getfd) on the second QMP socket, which stays open for the command using it. */
async function handOver(spec: VmSpec, mode: "r" | "w"): Promise<QmpFdChannel> {
  const t = spec.template;
  if (!t) throw new HypervisorError("qemu driver: not a template or a clone");
  const path = join(t.dir, "state");
  let fd: number;
  try {
    fd = mode === "w" ? openSync(path, "w", 0o600) : openSync(path, "r");
  } catch (err) {
    throw new HypervisorError(`template state ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const channel = await QmpFdChannel.connect(qmpFdSocket(spec));
    try {
      await channel.execute("getfd", { fdname: FD_NAME }, fd);
      return channel;
    } catch (err) {
      channel.close();
      throw err;
    }
  } finally {
    closeSync(fd); // QEMU holds its own copy now
  }
}

function migrationStatus(ret: unknown): string | undefined {
  const status = (ret as { status?: unknown } | null)?.status;
  return typeof status === "string" ? status : undefined;
}

async function tick(proc: QemuProcess, deadline: number, what: string): Promise<void> {
  if (!proc.alive()) throw new HypervisorError(`qemu exited while ${what}`);
  if (Date.now() > deadline) throw new HypervisorError(`${what} did not finish in time`);
  await settledWithin(proc.exited, 10);
}
