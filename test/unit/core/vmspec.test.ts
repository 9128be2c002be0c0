import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../../src/config/load.ts";
import { buildVmSpec, highestCpu, sizingFromSpec } from "../../../src/core/vmspec.ts";
import type { OciSpec } from "../../../src/oci/spec.ts";

const base = { vcpus: 1, memoryMiB: 512 };
const withCpu = (cpu: Record<string, unknown>, memory?: Record<string, unknown>): OciSpec => ({
  ociVersion: "1.0.2",
  linux: { resources: { cpu, ...(memory ? { memory } : {}) } },
});

describe("VM sizing from the first container", () => {
  test("no resources: the configured size", () => {
    expect(sizingFromSpec(undefined, base, 8)).toEqual({ vcpus: 1, memoryMiB: 512 });
  });
  test("a CPU quota rounds up to whole vCPUs", () => {
    expect(sizingFromSpec(withCpu({ quota: 150000, period: 100000 }), base, 8).vcpus).toBe(2);
  });
  test("a memory limit is added to the base memory", () => {
    expect(sizingFromSpec(withCpu({}, { limit: 256 * 1024 * 1024 }), base, 8).memoryMiB).toBe(768);
  });
  test("a cpuset naming CPU n gets n+1 vCPUs, at most the host's CPUs", () => {
    expect(sizingFromSpec(withCpu({ cpus: "0-1" }), base, 8).vcpus).toBe(2);
    expect(sizingFromSpec(withCpu({ cpus: "0,5" }), base, 8).vcpus).toBe(6);
    expect(sizingFromSpec(withCpu({ cpus: "0-63" }), base, 2).vcpus).toBe(2);
  });
  test("cpuset lists are parsed strictly", () => {
    expect(highestCpu("0-3,7")).toBe(7);
    expect(highestCpu(" 2 ")).toBe(2);
    expect(highestCpu("")).toBeUndefined();
    expect(highestCpu("0-")).toBeUndefined();
    expect(highestCpu("a,b")).toBeUndefined();
  });
});

describe("VM spec from config", () => {
  const build = (doc: Record<string, unknown>) =>
    buildVmSpec(parseConfig(doc, "test"), "sb", "/run/husk/sandboxes/sb", { vcpus: 1, memoryMiB: 512 });

  test("[agent] debug puts husk.debug=1 on the guest's command line, after the configured params", () => {
    expect(build({ hypervisor: { kernel_params: ["foo=1"] }, agent: { debug: true } }).kernelParams).toEqual(["foo=1", "husk.debug=1"]);
    expect(build({ hypervisor: { kernel_params: ["foo=1"] } }).kernelParams).toEqual(["foo=1"]);
  });

  test("[agent] debug must be a boolean: anything else is E_CONFIG naming the key", () => {
    expect(() => parseConfig({ agent: { debug: "yes" } }, "test")).toThrow("agent.debug");
    expect(() => parseConfig({ agent: { debug: 1 } }, "test")).toThrow(expect.objectContaining({ code: "E_CONFIG" }));
  });

  test("removed keys are refused by name, not ignored", () => {
    expect(() => parseConfig({ agent: { request_timeout_ms: 5 } }, "test")).toThrow("request_timeout_ms");
    expect(() => parseConfig({ runtime: { log_level: "debug" } }, "test")).toThrow("log_level");
    expect(() => parseConfig({ agent: { transport: "vsock" } }, "test")).toThrow("transport");
  });
});
