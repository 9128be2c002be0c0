import { HypervisorError } from "../host/errors.ts";
import type { Hypervisor } from "./types.ts";
import type { QemuHypervisorOptions } from "./qemu/index.ts";
import { MockHypervisor, type MockHypervisorOptions } from "./mock/index.ts";

/**
 * The only place that picks a concrete hypervisor driver. The QEMU driver is
 * imported lazily so the mock path (unit tests) never loads it.
 */

export const HYPERVISOR_NAMES = ["qemu", "mock"] as const;
export type HypervisorName = (typeof HYPERVISOR_NAMES)[number];

export interface HypervisorFactoryOptions {
  mock?: MockHypervisorOptions;
  qemu?: QemuHypervisorOptions;
}

export async function createHypervisor(name: HypervisorName, options: HypervisorFactoryOptions = {}): Promise<Hypervisor> {
  switch (name) {
    case "mock":
      return new MockHypervisor(options.mock);
    case "qemu": {
      // Static specifier (so `bun build --compile` bundles it), loaded only when asked for.
      const { QemuHypervisor } = await import("./qemu/index.ts");
      return new QemuHypervisor(options.qemu);
    }
    default:
      throw new HypervisorError(`unknown hypervisor ${JSON.stringify(name)} (known: ${HYPERVISOR_NAMES.join(", ")})`);
  }
}
