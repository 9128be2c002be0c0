import { afterAll, describe } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { removeTree } from "../../src/host/mounts.ts";
import { buildVmSpec } from "../../src/core/vmspec.ts";
import { readPidFile } from "../../src/hypervisor/qemu/pidfile.ts";
import { createTestContext } from "../support/context.ts";
import { announceSkip, realVmSkipReason } from "../support/conformance/env.ts";
import { imageVmSpec } from "../support/conformance/guest.ts";
import { realBackend } from "../support/conformance/real-vm.ts";
import { vmBackendContract } from "./contracts/vm-backend.ts";

/**
 * The VmBackend port: InProcessBackend over MockHypervisor + MockAgent (as
 * createTestContext wires it) always; MonitorBackend (detached `husk
 * monitor` from ./dist/husk, QEMU, the guest image's agent) where it can run.
 */

const mockRoot = mkdtempSync(join(tmpdir(), "husk-conf-vmb-"));
afterAll(() => rmSync(mockRoot, { recursive: true, force: true }));
// The test context's config names a stand-in image: the mock checks a spec's files as QEMU's driver does.
const mockCtx = createTestContext({ root: mockRoot });

vmBackendContract("in-process (mock hypervisor + mock agent)", {
  backend: mockCtx.backend,
  spec(sid) {
    const dir = join(mockRoot, "sandboxes", sid);
    mkdirSync(join(dir, "shared"), { recursive: true });
    return buildVmSpec(mockCtx.config, sid, dir, {});
  },
  // The mock's VM process is its placeholder, which is also what the handle reports as its owner.
  processes: (_spec, handle) => [handle.pid],
  timeoutMs: 20_000,
});

const skip = realVmSkipReason();
announceSkip("VmBackend contract: monitor", skip);

describe.skipIf(!!skip)("real driver", () => {
  // Short: the monitor's and QEMU's sockets live under it (sun_path is 108 bytes).
  const root = skip ? "" : mkdtempSync("/tmp/hkc-vb-");
  // A VM force-cleaned leaves its share bound onto itself (the core's sandbox removal unmounts it): removeTree does.
  afterAll(() => (root ? removeTree(root) : undefined));

  vmBackendContract("monitor (QEMU, guest image)", {
    backend: realBackend(),
    spec: (sid) => imageVmSpec(root, sid),
    processes(spec, handle) {
      const qemu = readPidFile(join(spec.dir, "qemu.pid"));
      if (!qemu) throw new Error(`no qemu.pid in ${spec.dir} for a booted VM`);
      return [handle.pid, qemu.pid];
    },
    timeoutMs: 300_000,
  });
});
