import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MockAgent, type MockAgentOptions } from "../../src/agent/mock.ts";
import { parseConfig } from "../../src/config/load.ts";
import { MonitorError } from "../../src/host/errors.ts";
import { forceCleanupMockVm, MockHypervisor, type MockHypervisorOptions } from "../../src/hypervisor/mock/index.ts";
import { DirectLauncher, type DirectLauncherOptions } from "./direct-launcher.ts";
import { NOOP_LIFECYCLE, type Lifecycle, type RuntimeContext } from "../../src/core/ports.ts";
import { InProcessBackend } from "./inprocess-backend.ts";

/**
 * A stand-in guest image (empty kernel and initramfs files, made once per
 * process): the mock hypervisor checks a spec's files as QEMU's driver does,
 * and tests must not depend on the image a real setup builds.
 */
let testImage: { kernel: string; initrd: string } | undefined;
function withTestImage(config: Record<string, unknown>): Record<string, unknown> {
  if (!testImage) {
    const dir = mkdtempSync(join(tmpdir(), "husk-test-image-"));
    testImage = { kernel: join(dir, "vmlinux"), initrd: join(dir, "initramfs.cpio") };
    writeFileSync(testImage.kernel, "");
    writeFileSync(testImage.initrd, "");
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  const hypervisor = (config.hypervisor ?? {}) as Record<string, unknown>;
  return { ...config, hypervisor: { kernel: testImage.kernel, initrd: testImage.initrd, ...hypervisor } };
}

/** File in the sandbox dir where the mock agent keeps its guest. */
export const MOCK_AGENT_FILE = "mock-agent.json";

export interface TestContextOptions {
  root: string;
  hypervisor?: Omit<MockHypervisorOptions, "dir">;
  agent?: Omit<MockAgentOptions, "stateFile">;
  launcher?: DirectLauncherOptions;
  lifecycle?: Lifecycle;
  /** Config file contents (as parsed TOML) over the defaults. */
  config?: Record<string, unknown>;
  lockTimeoutMs?: number;
}

export interface TestContext extends RuntimeContext {
  launcher: DirectLauncher;
  /** Every mock driver made for this context, newest last. */
  hypervisors: MockHypervisor[];
  agents: MockAgent[];
}

/**
 * A context on the mock drivers: InProcessBackend over MockHypervisor (state
 * in the sandbox dir, placeholder VM process) and MockAgent (guest persisted
 * in <sandboxDir>/mock-agent.json), DirectLauncher, NOOP or given lifecycle.
 * Works across processes: each process makes its own context on one root.
 */
export function createTestContext(options: TestContextOptions): TestContext {
  const hypervisors: MockHypervisor[] = [];
  const agents: MockAgent[] = [];
  const backend = new InProcessBackend({
    hypervisor: (spec) => {
      // A new VM means a fresh guest: forget the previous boot's mock guest.
      rmSync(join(spec.dir, MOCK_AGENT_FILE), { force: true });
      const hv = new MockHypervisor(options.hypervisor);
      hypervisors.push(hv);
      return hv;
    },
    forceCleanup: (dir) => forceCleanupMockVm(dir),
    reattach: async (spec) => {
      const hv = new MockHypervisor(options.hypervisor);
      let pid: number | undefined;
      try {
        pid = hv.attach(spec).pid;
      } catch (e) {
        throw new MonitorError(`sandbox ${spec.sandboxId}: no VM to connect to`, { cause: e });
      }
      if (pid === undefined) throw new MonitorError(`sandbox ${spec.sandboxId}: VM not started`);
      hypervisors.push(hv);
      return { hypervisor: hv, pid };
    },
    agent: (spec) => {
      const agent = new MockAgent({ ...options.agent, stateFile: join(spec.dir, MOCK_AGENT_FILE) });
      agents.push(agent);
      return agent;
    },
  });
  return {
    config: parseConfig(withTestImage(options.config ?? {}), "test config"),
    root: options.root,
    backend,
    launcher: new DirectLauncher(options.launcher),
    lifecycle: options.lifecycle ?? NOOP_LIFECYCLE,
    hypervisors,
    agents,
    ...(options.lockTimeoutMs !== undefined ? { lockTimeoutMs: options.lockTimeoutMs } : {}),
  };
}
