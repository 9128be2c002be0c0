import { describe, expect, test } from "bun:test";
import { KERNEL_FRAGMENT } from "../../../src/image/assets.ts";
import { checkKconfig, formatMismatches, parseKconfig } from "../../../src/image/kconfig.ts";

describe("parseKconfig", () => {
  test("reads set, unset, string and numeric options; ignores comments", () => {
    const v = parseKconfig(
      ["# a comment", "CONFIG_A=y", "# CONFIG_B is not set", 'CONFIG_C="x y"', "CONFIG_NR=64", "  CONFIG_D=m  ", ""].join("\n"),
    );
    expect([...v]).toEqual([
      ["CONFIG_A", "y"],
      ["CONFIG_B", "n"],
      ["CONFIG_C", '"x y"'],
      ["CONFIG_NR", "64"],
      ["CONFIG_D", "m"],
    ]);
  });

  test("a later assignment wins, as in Kconfig", () => {
    expect(parseKconfig("CONFIG_A=y\n# CONFIG_A is not set\n").get("CONFIG_A")).toBe("n");
  });
});

describe("checkKconfig", () => {
  const final = parseKconfig("CONFIG_A=y\nCONFIG_NR=64\n# CONFIG_B is not set\nCONFIG_M=m\n");

  test("no mismatch when every asked option has its value", () => {
    expect(checkKconfig(parseKconfig("CONFIG_A=y\nCONFIG_NR=64\n# CONFIG_B is not set\n"), final)).toEqual([]);
  });

  test("an option dropped by olddefconfig (absent) is reported as n", () => {
    const m = checkKconfig(parseKconfig("CONFIG_PVH=y\n"), final);
    expect(m).toEqual([{ option: "CONFIG_PVH", wanted: "y", got: "n" }]);
    expect(formatMismatches(m)).toBe("CONFIG_PVH: wanted y, got n");
  });

  test("a module where built-in was asked is a mismatch; not-set matches absent", () => {
    expect(checkKconfig(parseKconfig("CONFIG_M=y\n# CONFIG_ZZ is not set\n"), final)).toEqual([
      { option: "CONFIG_M", wanted: "y", got: "m" },
    ]);
  });
});

describe("the husk.config fragment", () => {
  const f = parseKconfig(KERNEL_FRAGMENT);
  test("asks only for built-ins (no modules)", () => {
    expect([...f.values()].filter((v) => v === "m")).toEqual([]);
  });
  test.each([
    "CONFIG_PVH",
    "CONFIG_VIRTIO_PCI",
    "CONFIG_VIRTIO_MMIO",
    "CONFIG_VIRTIO_CONSOLE",
    "CONFIG_NET_9P_VIRTIO",
    "CONFIG_9P_FS",
    "CONFIG_OVERLAY_FS",
    "CONFIG_DEVTMPFS",
    "CONFIG_SERIAL_8250_CONSOLE",
    "CONFIG_BLK_DEV_INITRD",
    "CONFIG_VIRTIO_VSOCKETS",
    "CONFIG_MEMCG",
    "CONFIG_CFS_BANDWIDTH",
    "CONFIG_CGROUP_BPF",
    "CONFIG_USER_NS",
    "CONFIG_SECCOMP_FILTER",
    "CONFIG_UNIX98_PTYS",
    "CONFIG_BINFMT_SCRIPT",
    "CONFIG_RD_LZ4",
    "CONFIG_TIME_NS",
  ])("has %s=y", (option) => {
    expect(f.get(option)).toBe("y");
  });
  test("leaves legacy ptys out (boot time)", () => {
    expect(f.get("CONFIG_LEGACY_PTYS")).toBe("n");
  });
});
