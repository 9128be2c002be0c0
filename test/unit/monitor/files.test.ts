import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readVmConfig, readVmState, writeVmConfig, writeVmState, type VmConfig } from "../../../src/monitor/files.ts";
import { parseMonitorArgs } from "../../../src/monitor/index.ts";

const config = (dir: string): VmConfig => ({
  version: 1,
  stopTimeoutMs: 5000,
  spec: {
    sandboxId: "sb",
    dir,
    sharedDir: `${dir}/shared`,
    binary: "qemu-system-x86_64",
    kernel: "/img/vmlinux",
    initrd: "/img/initramfs.cpio",
    machine: "microvm",
    accelerator: "auto",
    vcpus: 1,
    memoryMiB: 256,
    kernelParams: ["quiet"],
    bootTimeoutMs: 60000,
    consoleLog: `${dir}/console.log`,
    qmpSocket: `${dir}/qmp.sock`,
    agentSocket: `${dir}/agent.sock`,
  },
});

describe("vm.json / vm-state.json", () => {
  test("round trip", () => {
    const dir = mkdtempSync(join(tmpdir(), "husk-files-"));
    writeVmConfig(dir, config(dir));
    expect(readVmConfig(dir)).toEqual(config(dir));
    expect(readVmState(dir)).toBeUndefined();
    writeVmState(dir, { sandboxId: "sb", state: "running", monitorPid: 42, qemuPid: 43 });
    expect(readVmState(dir)).toMatchObject({ version: 1, state: "running", monitorPid: 42, qemuPid: 43 });
  });
  test("unknown fields, relative paths and bad machines are refused with the field named", () => {
    const dir = mkdtempSync(join(tmpdir(), "husk-files-"));
    const bad = (mut: (c: Record<string, any>) => void) => {
      const c = structuredClone(config(dir)) as Record<string, any>;
      mut(c);
      writeFileSync(join(dir, "vm.json"), JSON.stringify(c));
      return () => readVmConfig(dir);
    };
    expect(bad((c) => (c.extra = 1))).toThrow(/corrupt file .*: extra/);
    expect(bad((c) => (c.spec.kernel = "vmlinux"))).toThrow(/spec\.kernel/);
    expect(bad((c) => (c.spec.machine = "microvm,x=1;rm"))).toThrow(/spec\.machine/);
    expect(bad((c) => (c.spec.sandboxId = "../x"))).toThrow(/spec\.sandboxId/);
    writeFileSync(join(dir, "vm.json"), "{");
    expect(() => readVmConfig(dir)).toThrow(/corrupt file .*vm\.json/);
  });
  test("writing an invalid config throws before touching the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "husk-files-"));
    expect(() => writeVmConfig(dir, { ...config(dir), stopTimeoutMs: 0 })).toThrow();
  });
});

describe("husk monitor arguments", () => {
  test("sandbox id and --root in either form", () => {
    expect(parseMonitorArgs(["sb1", "--root", "/r"])).toEqual({ root: "/r", sandboxId: "sb1" });
    expect(parseMonitorArgs(["--root=/r", "sb1"])).toEqual({ root: "/r", sandboxId: "sb1" });
    expect(parseMonitorArgs(["sb1"])).toEqual({ root: "/run/husk", sandboxId: "sb1" });
  });
  test("bad input is a usage or id error", () => {
    expect(() => parseMonitorArgs([])).toThrow(/usage/);
    expect(() => parseMonitorArgs(["a", "b"])).toThrow(/unexpected/);
    expect(() => parseMonitorArgs(["sb", "--root", "rel"])).toThrow(/absolute/);
    expect(() => parseMonitorArgs(["../x"])).toThrow(/invalid sandbox id/);
    expect(() => parseMonitorArgs(["sb", "--force"])).toThrow(/unknown flag/);
  });
});
