import { describe, expect, test } from "bun:test";
import { HypervisorError } from "../../../src/host/errors.ts";
import {
  buildConfinementPrefix,
  buildLaunchCommand,
  buildQemuArgs,
  type Confinement,
  QEMU_CAPABILITIES,
  QEMU_RLIMITS,
  QEMU_SANDBOX,
  QEMU_UID_BASE,
  qemuUid,
} from "../../../src/hypervisor/qemu/args.ts";
import { capabilityMask, capabilityNames, parseProcLimit, parseProcStatus } from "../../../src/hypervisor/qemu/confine.ts";
import type { HostFacts } from "../../../src/hypervisor/qemu/host.ts";
import { resolveConfinement } from "../../../src/hypervisor/qemu/host-view.ts";
import type { VmSpec } from "../../../src/hypervisor/types.ts";

/** The confinement of QEMU (docs/security.md): seccomp, no_new_privs, capabilities, rlimits. Pure builders only. */

const tcgHost: HostFacts = { cpuFlags: new Set(["constant_tsc"]), tscKhz: 2100000, kvmOpens: false, vhostVsock: false };

const spec = (over: Partial<VmSpec> = {}): VmSpec => ({
  sandboxId: "sb1",
  dir: "/run/husk/sandboxes/sb1",
  sharedDir: "/run/husk/sandboxes/sb1/shared",
  binary: "qemu-system-x86_64",
  kernel: "/img/vmlinux",
  initrd: "/img/initramfs.cpio",
  machine: "microvm",
  accelerator: "auto",
  vcpus: 1,
  memoryMiB: 512,
  kernelParams: [],
  bootTimeoutMs: 60000,
  consoleLog: "/run/husk/sandboxes/sb1/console.log",
  qmpSocket: "/run/husk/sandboxes/sb1/qmp.sock",
  agentSocket: "/run/husk/sandboxes/sb1/agent.sock",
  ...over,
});

const confinement: Confinement = {
  unshare: "/usr/bin/unshare",
  prlimit: "/usr/bin/prlimit",
  setpriv: "/usr/bin/setpriv",
  capabilities: QEMU_CAPABILITIES,
  ...QEMU_RLIMITS,
};

const PREFIX = [
  "/usr/bin/prlimit",
  "--nofile=4096:4096",
  "--nproc=512:512",
  "--",
  "/usr/bin/setpriv",
  "--no-new-privs",
  "--inh-caps=-all",
  "--ambient-caps=-all",
  "--bounding-set=-all,+chown,+dac_override,+fowner,+fsetid",
  "--",
];

describe("QEMU seccomp filter (-sandbox)", () => {
  test("on by default, every optional group denied", () => {
    const args = buildQemuArgs(spec(), tcgHost);
    const i = args.indexOf("-sandbox");
    expect(i).toBeGreaterThan(-1);
    expect(args[i + 1]).toBe("on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    expect(args.filter((a) => a === "-sandbox")).toHaveLength(1);
    expect(
      QEMU_SANDBOX.split(",")
        .slice(1)
        .every((o) => o.endsWith("=deny")),
    ).toBe(true);
  });
  test("also for templates and clones", () => {
    for (const mode of ["save", "restore"] as const) {
      const args = buildQemuArgs(spec({ template: { mode, dir: "/dev/shm/t" } } as Partial<VmSpec>), tcgHost);
      expect(args[args.indexOf("-sandbox") + 1]).toBe(QEMU_SANDBOX);
    }
  });
  test("left out only when asked (seccomp: false)", () => {
    expect(buildQemuArgs(spec(), tcgHost, { seccomp: false })).not.toContain("-sandbox");
  });
});

describe("buildConfinementPrefix", () => {
  test("prlimit (hard = soft), then setpriv: no_new_privs, no inheritable/ambient caps, bounding set cut, empty environment", () => {
    expect(buildConfinementPrefix(confinement)).toEqual(PREFIX);
  });
  test("keeps chown, dac_override, fowner, fsetid; never mknod, net_admin, sys_admin, setuid, setgid", () => {
    expect([...QEMU_CAPABILITIES]).toEqual(["chown", "dac_override", "fowner", "fsetid"]);
    for (const c of ["mknod", "net_admin", "sys_admin", "setuid", "setgid", "setfcap", "sys_ptrace", "dac_read_search"]) {
      expect(QEMU_CAPABILITIES as readonly string[]).not.toContain(c);
    }
  });
  test("no capabilities at all: bounding set -all", () => {
    expect(buildConfinementPrefix({ ...confinement, capabilities: [] })).toContain("--bounding-set=-all");
  });
  test("a capability name that could inject another setpriv item is refused", () => {
    for (const bad of ["chown,+sys_admin", "+all", "", "CAP CHOWN"]) {
      expect(() => buildConfinementPrefix({ ...confinement, capabilities: [bad] })).toThrow(HypervisorError);
    }
  });
  test("limits must be integers ≥ 64", () => {
    for (const n of [0, 10, 63.5, Number.NaN, -1]) {
      expect(() => buildConfinementPrefix({ ...confinement, nofile: n })).toThrow(HypervisorError);
      expect(() => buildConfinementPrefix({ ...confinement, nproc: n })).toThrow(HypervisorError);
    }
  });
});

describe("QEMU's own uid", () => {
  test("QEMU_UID_BASE + the owner's pid; every pid maps inside the uid range", () => {
    expect(qemuUid(1234)).toBe(QEMU_UID_BASE + 1234);
    expect(qemuUid(4_194_304)).toBeLessThan(0xffff_fffe);
    for (const bad of [0, -1, 1.5, 4_194_305]) expect(() => qemuUid(bad)).toThrow(HypervisorError);
  });
  test("setpriv switches uid and gid, drops supplementary groups, keeps the four capabilities as inheritable and ambient", () => {
    const argv = buildConfinementPrefix({ ...confinement, uid: 1_500_001_234 });
    const caps = "-all,+chown,+dac_override,+fowner,+fsetid";
    expect(argv.slice(4)).toEqual([
      "/usr/bin/setpriv",
      "--no-new-privs",
      "--reuid=1500001234",
      "--regid=1500001234",
      "--clear-groups",
      `--inh-caps=${caps}`,
      `--ambient-caps=${caps}`,
      `--bounding-set=${caps}`,
      "--",
    ]);
  });
  test("a caller that is not root: no_new_privs, limits, empty environment; no uid, capability or namespace change it could not make", () => {
    const c = { ...confinement, capabilities: [], unprivileged: true };
    expect(buildConfinementPrefix(c)).toEqual([...PREFIX.slice(0, 4), "/usr/bin/setpriv", "--no-new-privs", "--"]);
    expect(buildLaunchCommand("qemu", ["-m", "1"], spec(), "nsenter", c)[0]).toBe("/usr/bin/prlimit");
  });
  test("uid 0 or out of range is refused (absent means root)", () => {
    for (const uid of [0, -5, 2 ** 32, 1.5]) expect(() => buildConfinementPrefix({ ...confinement, uid })).toThrow(HypervisorError);
  });
});

describe("resolveConfinement", () => {
  test("the tools from PATH; root gets the four capabilities and a uid of its own from this process's pid", () => {
    const c = resolveConfinement(process.env.PATH, 0);
    for (const tool of [c.unshare, c.prlimit, c.setpriv]) expect(tool).toMatch(/^\//);
    expect(c.capabilities).toEqual(QEMU_CAPABILITIES);
    expect(c.uid).toBe(QEMU_UID_BASE + process.pid);
    expect(c.unprivileged).toBeUndefined();
    expect(resolveConfinement(process.env.PATH, 1000)).toMatchObject({ capabilities: [], unprivileged: true });
    expect(resolveConfinement(process.env.PATH, 1000).uid).toBeUndefined();
  });
  test("a missing tool is E_HYPERVISOR naming it: QEMU never starts unconfined", () => {
    expect(() => resolveConfinement("/nonexistent")).toThrow(HypervisorError);
    expect(() => resolveConfinement("/nonexistent")).toThrow(/unshare not found on PATH \(install util-linux\)/);
  });
});

describe("buildLaunchCommand with confinement", () => {
  const args = ["-m", "1"];
  test("no NICs: an empty network namespace of its own, the wrapper, then QEMU (every wrapper execs: the pid is QEMU's)", () => {
    expect(buildLaunchCommand("/usr/bin/qemu", args, spec(), "nsenter", confinement)).toEqual([
      "/usr/bin/unshare",
      "--net",
      "--",
      ...PREFIX,
      "/usr/bin/qemu",
      ...args,
    ]);
  });
  test("NICs: nsenter first (it needs CAP_SYS_ADMIN), the capabilities dropped after it", () => {
    const network = { netns: "/run/netns/x", nics: [{ tap: "tap0" }] };
    const argv = buildLaunchCommand("/usr/bin/qemu", args, spec({ network } as Partial<VmSpec>), "/usr/bin/nsenter", confinement);
    expect(argv).toEqual(["/usr/bin/nsenter", "--net=/run/netns/x", "--", ...PREFIX, "/usr/bin/qemu", ...args]);
  });
  test("a template being made has no netns to join, and is confined all the same", () => {
    const network = { netns: "/run/netns/x", nics: [{ tap: "tap0" }] };
    const argv = buildLaunchCommand(
      "qemu",
      args,
      spec({ network, template: { mode: "save", dir: "/t" } } as Partial<VmSpec>),
      "nsenter",
      confinement,
    );
    expect(argv).toEqual(["/usr/bin/unshare", "--net", "--", ...PREFIX, "qemu", ...args]);
  });
  test("without confinement: QEMU as is (the old call shape still works)", () => {
    expect(buildLaunchCommand("qemu", args, spec())).toEqual(["qemu", ...args]);
  });
});

describe("reading the confinement back from /proc", () => {
  const status = [
    "Name:\tqemu-system-x86",
    "Uid:\t0\t0\t0\t0",
    "CapInh:\t0000000000000000",
    "CapPrm:\t000000000000001b",
    "CapEff:\t000000000000001b",
    "CapBnd:\t000000000000001b",
    "CapAmb:\t0000000000000000",
    "NoNewPrivs:\t1",
    "Seccomp:\t2",
    "Seccomp_filters:\t1",
  ].join("\n");
  test("parseProcStatus: seccomp mode, no_new_privs, capability sets, uid", () => {
    expect(parseProcStatus(status)).toEqual({
      seccomp: 2,
      noNewPrivs: true,
      capEff: 0x1bn,
      capPrm: 0x1bn,
      capBnd: 0x1bn,
      capInh: 0n,
      capAmb: 0n,
      uid: 0,
    });
    const bare = parseProcStatus("Name:\tx\nCapEff:\tzz\n");
    expect(bare.seccomp).toBeUndefined();
    expect(bare.noNewPrivs).toBe(false);
    expect(bare.capEff).toBe(0n);
  });
  test("capability masks and names: QEMU's four are 0x1b", () => {
    expect(capabilityMask(QEMU_CAPABILITIES)).toBe(0x1bn);
    expect(capabilityNames(0x1bn)).toEqual(["chown", "dac_override", "fowner", "fsetid"]);
    expect(capabilityNames(capabilityMask(["mknod", "net_admin", "sys_admin"]))).toEqual(["net_admin", "sys_admin", "mknod"]);
    expect(capabilityNames(1n << 50n)).toEqual(["cap_50"]);
    expect(() => capabilityMask(["nope"])).toThrow();
  });
  test("parseProcLimit", () => {
    const limits = [
      "Limit                     Soft Limit           Hard Limit           Units     ",
      "Max processes             512                  512                  processes ",
      "Max open files            4096                 4096                 files     ",
      "Max locked memory         unlimited            unlimited            bytes     ",
    ].join("\n");
    expect(parseProcLimit(limits, "Max open files")).toEqual({ soft: 4096, hard: 4096 });
    expect(parseProcLimit(limits, "Max processes")).toEqual({ soft: 512, hard: 512 });
    expect(parseProcLimit(limits, "Max locked memory")).toEqual({ soft: "unlimited", hard: "unlimited" });
    expect(parseProcLimit(limits, "Max nice priority")).toBeUndefined();
  });
});
