import { describe, expect, test } from "bun:test";
import { HypervisorError } from "../../../src/errors.ts";
import {
  buildConfinementPrefix,
  buildLaunchCommand,
  buildQemuArgs,
  type Confinement,
  QEMU_CAPABILITIES,
  QEMU_RLIMITS,
  QEMU_SANDBOX,
} from "../../../src/hypervisor/qemu/args.ts";
import type { HostFacts } from "../../../src/hypervisor/qemu/host.ts";
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
  prlimit: "/usr/bin/prlimit",
  setpriv: "/usr/bin/setpriv",
  capabilities: QEMU_CAPABILITIES,
  ...QEMU_RLIMITS,
};

const PREFIX = [
  "/usr/bin/prlimit", "--nofile=4096:4096", "--nproc=512:512", "--",
  "/usr/bin/setpriv", "--no-new-privs", "--inh-caps=-all", "--ambient-caps=-all",
  "--bounding-set=-all,+chown,+dac_override,+fowner,+fsetid", "--reset-env", "--",
];

describe("QEMU seccomp filter (-sandbox)", () => {
  test("on by default, every optional group denied", () => {
    const args = buildQemuArgs(spec(), tcgHost);
    const i = args.indexOf("-sandbox");
    expect(i).toBeGreaterThan(-1);
    expect(args[i + 1]).toBe("on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    expect(args.filter((a) => a === "-sandbox")).toHaveLength(1);
    expect(QEMU_SANDBOX.split(",").slice(1).every((o) => o.endsWith("=deny"))).toBe(true);
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

describe("buildLaunchCommand with confinement", () => {
  const args = ["-m", "1"];
  test("no NICs: the wrapper, then QEMU (every wrapper execs: the pid is QEMU's)", () => {
    expect(buildLaunchCommand("/usr/bin/qemu", args, spec(), "nsenter", confinement)).toEqual([...PREFIX, "/usr/bin/qemu", ...args]);
  });
  test("NICs: nsenter first (it needs CAP_SYS_ADMIN), the capabilities dropped after it", () => {
    const network = { netns: "/run/netns/x", nics: [{ tap: "tap0" }] };
    const argv = buildLaunchCommand("/usr/bin/qemu", args, spec({ network } as Partial<VmSpec>), "/usr/bin/nsenter", confinement);
    expect(argv).toEqual(["/usr/bin/nsenter", "--net=/run/netns/x", "--", ...PREFIX, "/usr/bin/qemu", ...args]);
  });
  test("a template being made has no netns to join, and is confined all the same", () => {
    const network = { netns: "/run/netns/x", nics: [{ tap: "tap0" }] };
    const argv = buildLaunchCommand("qemu", args, spec({ network, template: { mode: "save", dir: "/t" } } as Partial<VmSpec>), "nsenter", confinement);
    expect(argv).toEqual([...PREFIX, "qemu", ...args]);
  });
  test("without confinement: QEMU as is (the old call shape still works)", () => {
    expect(buildLaunchCommand("qemu", args, spec())).toEqual(["qemu", ...args]);
  });
});
