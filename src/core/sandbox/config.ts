import type { RuntimeContext } from "../ports.ts";
import { validateContainerConfig, type ContainerConfig } from "../container/config.ts";
import { AlreadyExistsError } from "../../host/errors.ts";
import { validateId } from "../../host/ids.ts";
import type { SandboxPhaseContext } from "../ports.ts";
import { sandboxDir } from "../../host/layout.ts";
import type { VmSizing } from "../vmspec.ts";

/** A sandbox as the caller asks for it, and what its lifecycle phases are handed. */

export interface SandboxConfig {
  id: string;
  /** Created in order with the sandbox (the first one sizes the VM and feeds sandbox hooks). */
  containers: ContainerConfig[];
  annotations?: Record<string, string>;
  /** Overrides of the configured VM size; otherwise derived from the first container's resources. */
  hypervisor?: VmSizing;
}

function netnsOf(config: Pick<ContainerConfig, "spec"> | undefined): string | undefined {
  return config?.spec.linux?.namespaces?.find((n) => n.type === "network")?.path;
}

export function sandboxPhase(
  ctx: RuntimeContext,
  sid: string,
  first: Pick<ContainerConfig, "spec" | "bundle"> | undefined,
  vm?: SandboxPhaseContext["vm"],
): SandboxPhaseContext {
  const netnsPath = netnsOf(first);
  return {
    sandboxId: sid,
    sandboxDir: sandboxDir(ctx.root, sid),
    ...(first ? { spec: first.spec, bundle: first.bundle } : {}),
    ...(netnsPath ? { netnsPath } : {}),
    ...(vm ? { vm } : {}),
  };
}

/** Validate the config before anything touches the disk. */
export function validateSandboxConfig(config: SandboxConfig): void {
  validateId(config.id, "sandbox id");
  const seen = new Set<string>();
  for (const c of config.containers) {
    validateContainerConfig(c);
    if (seen.has(c.id)) throw new AlreadyExistsError(`container ${c.id} appears twice in sandbox ${config.id}`);
    seen.add(c.id);
  }
}
