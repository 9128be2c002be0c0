import type { RuntimeContext } from "./ports.ts";
import { logger } from "../host/log.ts";
import { moveContainer, moveSandbox, vmAlive, withVm, type LoadedContainer, type LoadedSandbox } from "./loaded.ts";
import { containerExitFile } from "../host/layout.ts";
import { readJsonIfExists } from "../host/json-file.ts";
import { isProcessAlive } from "../host/proc.ts";
import { ExitRecordSchema } from "./records.ts";

/**
 * Stale-state repair (seed statusContainer): a container recorded live whose
 * shim is gone is stopped (exit code from the shim's exit.json when it left
 * one); a sandbox whose VM owner is gone is stopped with all its containers.
 * Detection is pure reading; repair must run under the exclusive lock.
 */

const log = logger("repair");

export interface Staleness {
  sandboxDead: boolean;
  deadContainers: LoadedContainer[];
}

export function findStale(sb: LoadedSandbox): Staleness {
  const sandboxDead = sb.current.state !== "stopped" && !vmAlive(sb);
  const deadContainers = sb.containers.filter(
    (c) => c.current.state !== "stopped" && (sandboxDead || (c.current.pid > 0 && !isProcessAlive(c.current.pid, c.current.pidStart))),
  );
  return { sandboxDead, deadContainers };
}

export function isStale(s: Staleness): boolean {
  return s.sandboxDead || s.deadContainers.length > 0;
}

function exitedWithOwnPidNamespace(ctx: RuntimeContext, sid: string, c: LoadedContainer): boolean {
  const ownPidNs = (c.record.guestSpec ?? c.record.spec).linux?.namespaces?.some((n) => n.type === "pid" && !n.path) ?? false;
  return (
    ownPidNs &&
    readJsonIfExists(containerExitFile(ctx.root, sid, c.record.id), ExitRecordSchema, `exit status of ${c.record.id}`) !== undefined
  );
}

export async function repairSandbox(ctx: RuntimeContext, sb: LoadedSandbox): Promise<void> {
  const stale = findStale(sb);
  if (!isStale(stale)) return;
  const sid = sb.record.id;
  // The shim is gone but the guest process may not be: make sure it is —
  // unless the shim saw it exit (exit.json) and it had a PID namespace of its
  // own, whose processes the kernel killed with it.
  const toKill = stale.deadContainers.filter((c) => !exitedWithOwnPidNamespace(ctx, sid, c));
  if (!stale.sandboxDead && toKill.length > 0) {
    await withVm(ctx, sb, async (vm) => {
      for (const c of toKill) {
        try {
          await vm.agent.call("signalProcess", { containerId: c.record.id, signal: 9, all: true }, { timeoutMs: 2000 });
        } catch (e) {
          log.debug(`killing ${c.record.id} in the guest: ${(e as Error).message}`);
        }
      }
    }).catch((e: unknown) => log.debug(`cannot reach sandbox ${sid} VM: ${(e as Error).message}`));
  }
  for (const c of stale.deadContainers) {
    const exit = readJsonIfExists(containerExitFile(ctx.root, sid, c.record.id), ExitRecordSchema, `exit status of ${c.record.id}`);
    log.debug(`container ${c.record.id}: shim ${c.current.pid} gone, marking stopped`);
    moveContainer(ctx.root, sid, c, "stopped", exit ? { exitCode: exit.exitCode } : {});
  }
  if (stale.sandboxDead) {
    log.debug(`sandbox ${sid}: VM owner ${sb.current.vmPid ?? "(none)"} gone, marking stopped`);
    moveSandbox(ctx.root, sb, "stopped");
  }
}
