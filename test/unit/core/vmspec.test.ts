import { describe, expect, test } from "bun:test";
import { highestCpu, sizingFromSpec } from "../../../src/core/vmspec.ts";
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
