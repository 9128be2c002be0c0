import { randomBytes } from "node:crypto";
import { probeHost } from "../hypervisor/qemu/probe.ts";
import type { Hypervisor, VmSpec } from "../hypervisor/types.ts";
import { logger } from "../host/log.ts";
import { bootVm, type BootResult } from "./boot.ts";
import { connectGuest, type GuestLink } from "./guest.ts";
import { templateKey } from "../factory/key.ts";
import { cloneSpec } from "../factory/spec.ts";
import { findTemplate, markUsed } from "../factory/store.ts";

/**
 * Starting a sandbox VM as a clone of its template: QEMU maps the
 * template's RAM privately, loads the device state and runs; the agent,
 * already up, is made unique (cloneInit: RNG, clock, hostname, share).
 * Whatever fails, the clone is killed and the caller boots cold.
 */

const log = logger("factory");

/** A clone answers in a fraction of a second; this bounds a broken one (it also holds on a loaded host). */
export const CLONE_TIMEOUT_MS = 20_000;

export type CloneOutcome =
  | { kind: "cloned"; result: BootResult<GuestLink>; key: string }
  /** No template yet for this key: the caller boots cold and may have one made. */
  | { kind: "missing"; key: string }
  /** A template was there and failed: the caller boots cold and warns. */
  | { kind: "failed"; key: string; warning: string }
  /** This hypervisor driver cannot restore templates: boot cold, make none. */
  | { kind: "unsupported" };

export async function bootClone(spec: VmSpec, factoryDir: string, hv: Hypervisor): Promise<CloneOutcome> {
  if (!hv.restoreTemplate) return { kind: "unsupported" };
  const { key } = await templateKey(spec, probeHost());
  const found = findTemplate(factoryDir, key);
  if (!found.template) {
    return found.problem ? { kind: "failed", key, warning: `template ${key} is unusable (${found.problem})` } : { kind: "missing", key };
  }
  const clone = { ...cloneSpec(spec, found.template.dir), bootTimeoutMs: Math.min(spec.bootTimeoutMs, CLONE_TIMEOUT_MS) };
  try {
    const result = await bootVm(hv, clone, connectGuest, {
      afterStart: () => hv.restoreTemplate!(),
      ready: async (agent) => {
        await agent.channel.call(
          "cloneInit",
          { hostname: hostnameFor(spec.sandboxId), unixTimeMs: Date.now(), entropy: randomBytes(64).toString("base64") },
          { timeoutMs: clone.bootTimeoutMs },
        );
      },
    });
    markUsed(found.template.dir);
    log.info(`sandbox ${spec.sandboxId}: cloned from template ${key} in ${result.bootMs} ms`);
    return { kind: "cloned", result, key };
  } catch (err) {
    const why = err instanceof Error ? err.message.split("\n")[0] : String(err);
    return { kind: "failed", key, warning: `clone of template ${key} failed (${why}); booted cold` };
  }
}

/** A hostname from the sandbox id (a valid one, at most 64 bytes). */
export function hostnameFor(sandboxId: string): string {
  const name = sandboxId
    .replace(/[^A-Za-z0-9.-]/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "")
    .slice(0, 64);
  return name || "husk";
}
