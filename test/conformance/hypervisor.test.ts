import { afterAll, describe } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfigText } from "../../src/config/load.ts";
import { removeTree } from "../../src/host/mounts.ts";
import { buildVmSpec } from "../../src/core/vmspec.ts";
import { MockHypervisor } from "../../src/hypervisor/mock/index.ts";
import { QemuHypervisor } from "../../src/hypervisor/qemu/index.ts";
import { announceSkip, qemuSkipReason } from "../support/conformance/env.ts";
import { imageVmSpec } from "../support/conformance/guest.ts";
import { hypervisorContract } from "./contracts/hypervisor.ts";

/** The Hypervisor port: the mock driver always, QEMU (guest image, TCG or KVM) where it can run. */

// Short: QEMU's sockets live in these directories (sun_path is 108 bytes).
const work = mkdtempSync("/tmp/hkc-hv-");
afterAll(() => removeTree(work));

// The mock checks a spec's files as QEMU's driver does: an empty stand-in kernel, no initramfs.
const standInKernel = join(work, "vmlinux");
writeFileSync(standInKernel, "");
const config = parseConfigText(`[hypervisor]\nkernel = "${standInKernel}"\ninitrd = ""\n`, "conformance");

hypervisorContract("mock", {
  make(name) {
    const dir = join(work, "mock", name);
    mkdirSync(join(dir, "shared"), { recursive: true });
    return { driver: new MockHypervisor(), spec: buildVmSpec(config, name, dir, {}) };
  },
  stopTimeoutMs: 1000,
  timeoutMs: 20_000,
});

const skip = qemuSkipReason();
announceSkip("Hypervisor contract: qemu", skip);
describe.skipIf(!!skip)("real driver", () => {
  hypervisorContract("qemu", {
    make(name) {
      return { driver: new QemuHypervisor(), spec: imageVmSpec(join(work, "qemu"), name, { bootTimeoutMs: 60_000 }) };
    },
    stopTimeoutMs: 5000,
    timeoutMs: 120_000,
  });
});
