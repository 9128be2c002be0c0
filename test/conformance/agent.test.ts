import { afterAll, beforeAll, describe } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MockAgent } from "../../src/agent/mock.ts";
import { removeTree } from "../../src/host/mounts.ts";
import { announceSkip, realVmSkipReason } from "../support/conformance/env.ts";
import { busyboxRootfs, containerSpec } from "../support/conformance/guest.ts";
import { bootRealVm, type RealVm } from "../support/conformance/real-vm.ts";
import { agentContract } from "./contracts/agent.ts";

/**
 * The Agent port: the mock agent always; the real one — the husk agent in a
 * guest-image VM, reached as the core reaches it (VmHandle.agent, through
 * the sandbox monitor) — where QEMU, the image, ./dist/husk and root are.
 * One real VM for the whole suite.
 */

const work = mkdtempSync(join(tmpdir(), "husk-conf-agent-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// ---- mock: one persisted guest, a MockAgent per connection (as InProcessBackend makes them) ----

const mockGuest = join(work, "mock-agent.json");
agentContract("mock", {
  async open() {
    const agent = new MockAgent({ stateFile: mockGuest });
    return {
      agent,
      spec: (cid, args) => containerSpec(`/nonexistent/${cid}/rootfs`, cid, args),
      programEnded: (cid, execId, code) => agent.exitProcess(cid, execId, code),
      connectAgain: async () => new MockAgent({ stateFile: mockGuest }),
    };
  },
  close: (s) => s.agent.close(),
  timeoutMs: 20_000,
});

// ---- real: the guest agent through the monitor ----

const skip = realVmSkipReason();
announceSkip("Agent contract: guest agent via monitor", skip);

describe.skipIf(!!skip)("real driver", () => {
  // Short: the monitor's and QEMU's sockets live under it (sun_path is 108 bytes).
  const root = skip ? "" : mkdtempSync("/tmp/hkc-ag-");
  let vm: RealVm | undefined;

  beforeAll(async () => {
    vm = await bootRealVm(root, "agentc");
  }, 300_000);

  afterAll(async () => {
    await vm?.handle.stop().catch((e) => console.warn(`stopping the agent suite's VM: ${e}`));
    if (vm) await vm.backend.forceCleanup(vm.spec.dir);
    await removeTree(root);
  }, 120_000);

  agentContract("guest agent via monitor", {
    async open() {
      const real = vm!;
      const handle = await real.backend.connect(real.spec);
      return {
        agent: handle.agent,
        spec: (cid, args) => containerSpec(busyboxRootfs(real.spec.sharedDir, cid), cid, args),
        programEnded: () => {}, // the guest runs the program: it ends by itself
        // A second monitor connection (handle.close() is its agent's close()).
        connectAgain: async () => (await real.backend.connect(real.spec)).agent,
      };
    },
    close: async (s) => s.agent.close(),
    timeoutMs: 120_000,
  });
});
