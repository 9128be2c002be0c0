import { describe, expect, test } from "bun:test";
import { detectAccelerator, parseCpuInfo } from "../../../src/hypervisor/qemu/host.ts";

const block = (over: Record<string, string>) =>
  Object.entries({
    processor: "0",
    vendor_id: "AuthenticAMD",
    "model name": "AMD EPYC",
    "cpu MHz": "2596.144",
    flags: "fpu tsc constant_tsc nonstop_tsc tsc_known_freq hypervisor avx2",
    bogomips: "5192.28",
    ...over,
  })
    .map(([k, v]) => `${k}\t\t: ${v}`)
    .join("\n");

describe("parseCpuInfo", () => {
  test("tsc_known_freq: cpu MHz is the TSC rate", () => {
    const info = parseCpuInfo(`${block({})}\n\n${block({ processor: "1", "cpu MHz": "9999.0" })}`);
    expect(info.tscKhz).toBe(2596144);
    expect(info.flags.has("avx2")).toBe(true);
  });
  test("constant_tsc without tsc_known_freq: bogomips / 2 (ignores cpufreq's current MHz)", () => {
    const info = parseCpuInfo(block({ flags: "fpu tsc constant_tsc vmx", "cpu MHz": "800.000", bogomips: "4200.00" }));
    expect(info.tscKhz).toBe(2100000);
    expect(info.flags.has("vmx")).toBe(true);
  });
  test("no constant TSC: unknown", () => {
    expect(parseCpuInfo(block({ flags: "fpu tsc" })).tscKhz).toBeUndefined();
  });
  test("garbage and empty input do not throw", () => {
    expect(parseCpuInfo("").tscKhz).toBeUndefined();
    expect(parseCpuInfo("").flags.size).toBe(0);
    expect(parseCpuInfo(block({ "cpu MHz": "fast", bogomips: "-1" })).tscKhz).toBeUndefined();
    expect(parseCpuInfo("no colon here\n:\n::::").tscKhz).toBeUndefined();
  });
  test("the first processor's values win", () => {
    const two = `${block({ flags: "constant_tsc", bogomips: "4000.00" })}\n\n${block({ flags: "constant_tsc", bogomips: "6000.00" })}`;
    expect(parseCpuInfo(two).tscKhz).toBe(2000000);
  });
});

describe("detectAccelerator", () => {
  const virt = new Set(["vmx"]);
  const none = new Set<string>();
  test("auto: KVM only when /dev/kvm opens AND vmx/svm present", () => {
    expect(detectAccelerator("auto", virt, true)).toEqual({ accelerator: "kvm" });
    expect(detectAccelerator("auto", new Set(["svm"]), true)).toEqual({ accelerator: "kvm" });
  });
  test("auto: /dev/kvm opening without vmx/svm is TCG with a warning (nested hosts hang)", () => {
    const c = detectAccelerator("auto", none, true);
    expect(c.accelerator).toBe("tcg");
    expect(c.warning).toContain("vmx/svm");
  });
  test("auto: flags but no /dev/kvm is TCG with a warning", () => {
    const c = detectAccelerator("auto", virt, false);
    expect(c.accelerator).toBe("tcg");
    expect(c.warning).toContain("/dev/kvm");
  });
  test("tcg is honoured silently", () => {
    expect(detectAccelerator("tcg", virt, true)).toEqual({ accelerator: "tcg" });
  });
  test("kvm forced: honoured, warned when it cannot work", () => {
    expect(detectAccelerator("kvm", virt, true)).toEqual({ accelerator: "kvm" });
    const c = detectAccelerator("kvm", none, true);
    expect(c.accelerator).toBe("kvm");
    expect(c.warning).toBeDefined();
  });
});
