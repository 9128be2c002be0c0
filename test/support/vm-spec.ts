import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { VmSpec } from "../../src/hypervisor/types.ts";

/**
 * A VmSpec for tests: the sandbox directory `dir` (made, with its shared/
 * folder), the driver's files under it as husk lays them out, and a small
 * VM; `over` says what the test boots (kernel, initrd, size, accelerator...).
 */
export function testVmSpec(dir: string, sandboxId: string, over: Partial<VmSpec> = {}): VmSpec {
  mkdirSync(join(dir, "shared"), { recursive: true });
  return {
    sandboxId,
    dir,
    sharedDir: join(dir, "shared"),
    binary: "qemu-system-x86_64",
    kernel: "/nonexistent/vmlinux",
    machine: "microvm",
    accelerator: "auto",
    vcpus: 1,
    memoryMiB: 256,
    kernelParams: [],
    bootTimeoutMs: 60_000,
    consoleLog: join(dir, "console.log"),
    qmpSocket: join(dir, "qmp.sock"),
    agentSocket: join(dir, "agent.sock"),
    ...over,
  };
}
