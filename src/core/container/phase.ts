import type { RuntimeContext } from "../ports.ts";
import type { ContainerRecord } from "../records.ts";
import type { ContainerPhaseContext } from "../ports.ts";
import { logger } from "../../host/log.ts";
import type { VmHandle } from "../ports.ts";
import type { OciSpec, OciState } from "../../oci/spec.ts";
import type { LoadedSandbox } from "../loaded.ts";
import { sandboxDir } from "../../host/layout.ts";

/** What a container operation (./create.ts and its siblings) hands the lifecycle (OCI hooks, plugins) at each phase. */

const log = logger("container");

export function netnsOf(spec: OciSpec): string | undefined {
  return spec.linux?.namespaces?.find((n) => n.type === "network")?.path;
}

export function phaseContext(
  ctx: RuntimeContext,
  sb: LoadedSandbox,
  record: ContainerRecord,
  spec: OciSpec,
  state: OciState,
  vm?: VmHandle,
): ContainerPhaseContext {
  const netnsPath = netnsOf(record.spec);
  return {
    sandboxId: sb.record.id,
    sandboxDir: sandboxDir(ctx.root, sb.record.id),
    containerId: record.id,
    bundle: record.bundle,
    spec,
    state,
    ...(netnsPath ? { netnsPath } : {}),
    ...(vm ? { agent: vm.agent } : {}),
  };
}

export function frozen(spec: OciSpec): OciSpec {
  return Object.freeze(structuredClone(spec)) as OciSpec;
}

export async function warnOnly(what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    log.warn(`${what} failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
