import { describe, expect, test } from "bun:test";
import { HypervisorError } from "../../../src/host/errors.ts";
import {
  buildKernelCmdline,
  buildLaunchCommand,
  buildMachine,
  buildQemuArgs,
  escapeOptionValue,
} from "../../../src/hypervisor/qemu/args.ts";
import type { HostFacts } from "../../../src/hypervisor/qemu/host.ts";
import type { VmSpec } from "../../../src/hypervisor/types.ts";

const tcgHost: HostFacts = { cpuFlags: new Set(["constant_tsc"]), tscKhz: 2100000, kvmOpens: true, vhostVsock: false };
const kvmHost: HostFacts = { cpuFlags: new Set(["vmx"]), tscKhz: 2100000, kvmOpens: true, vhostVsock: true };

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

/** Value following each occurrence of `flag`. */
const values = (args: string[], flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
const value = (args: string[], flag: string) => {
  const v = values(args, flag);
  expect(v.length).toBe(1);
  return v[0]!;
};

describe("buildQemuArgs: common options", () => {
  const args = buildQemuArgs(spec(), tcgHost);
  test("no defaults, no config, no graphics, no reboot; never daemonizes or writes its own pid file", () => {
    for (const f of ["-nodefaults", "-no-user-config", "-nographic", "-no-reboot"]) expect(args).toContain(f);
    expect(args).not.toContain("-daemonize");
    expect(args).not.toContain("-pidfile");
  });
  test("size, kernel, initrd", () => {
    expect(value(args, "-smp")).toBe("1");
    expect(value(args, "-m")).toBe("512M");
    expect(value(args, "-kernel")).toBe("/img/vmlinux");
    expect(value(args, "-initrd")).toBe("/img/initramfs.cpio");
  });
  test("console to a file chardev on the serial port", () => {
    expect(values(args, "-chardev")).toContain("file,id=console,path=/run/husk/sandboxes/sb1/console.log");
    expect(value(args, "-serial")).toBe("chardev:console");
  });
  test("QMP on a listening unix socket that does not wait", () => {
    expect(values(args, "-chardev")).toContain("socket,id=qmp,path=/run/husk/sandboxes/sb1/qmp.sock,server=on,wait=off");
    expect(value(args, "-mon")).toBe("chardev=qmp,mode=control");
  });
  test("every argument is a separate string (no shell quoting)", () => {
    expect(args.every((a) => typeof a === "string" && a.length > 0)).toBe(true);
  });
  test("no initrd when the spec has none", () => {
    expect(buildQemuArgs(spec({ initrd: undefined }), tcgHost)).not.toContain("-initrd");
  });
  test("vcpus and memory follow the spec", () => {
    const a = buildQemuArgs(spec({ vcpus: 4, memoryMiB: 2048 }), tcgHost);
    expect(value(a, "-smp")).toBe("4");
    expect(value(a, "-m")).toBe("2048M");
  });
});

describe("buildQemuArgs: accelerator", () => {
  test("TCG: tb-size bounded, -cpu max (Bun needs AVX2)", () => {
    const a = buildQemuArgs(spec(), tcgHost);
    expect(value(a, "-accel")).toBe("tcg,tb-size=64");
    expect(value(a, "-cpu")).toBe("max");
  });
  test("KVM when usable: -cpu host", () => {
    const a = buildQemuArgs(spec(), kvmHost);
    expect(value(a, "-accel")).toBe("kvm");
    expect(value(a, "-cpu")).toBe("host");
  });
  test("tcg forced on a KVM host", () => {
    expect(value(buildQemuArgs(spec({ accelerator: "tcg" }), kvmHost), "-accel")).toBe("tcg,tb-size=64");
  });
});

describe("buildQemuArgs: machine types", () => {
  test("microvm: no option ROMs, ISA serial, RTC on; virtio-mmio devices", () => {
    const a = buildQemuArgs(spec({ agentDir: "/usr/lib/husk" }), tcgHost);
    expect(value(a, "-machine")).toBe("microvm,x-option-roms=off,isa-serial=on,rtc=on");
    const devs = values(a, "-device");
    expect(devs).toContain("virtio-serial-device,id=vser0,max_ports=2");
    expect(devs.filter((d) => d.startsWith("virtio-9p-device,"))).toHaveLength(2);
    expect(devs.some((d) => d.includes("-pci"))).toBe(false);
  });
  test("microvm with acpi=off in the kernel params: no ACPI tables, reboot=t added", () => {
    const s = spec({ kernelParams: ["acpi=off"] });
    expect(buildMachine(s)).toBe("microvm,x-option-roms=off,isa-serial=on,rtc=on,acpi=off");
    expect(buildKernelCmdline(s, tcgHost, "tcg")).toContain("reboot=t");
  });
  test("microvm with extra options keeps them", () => {
    expect(buildMachine(spec({ machine: "microvm,pit=off" }))).toBe("microvm,x-option-roms=off,isa-serial=on,rtc=on,pit=off");
  });
  for (const machine of ["q35", "pc"]) {
    test(`${machine}: virtio-pci devices`, () => {
      const a = buildQemuArgs(spec({ machine, agentDir: "/usr/lib/husk", image: "/img/root.img" }), tcgHost);
      expect(value(a, "-machine").startsWith(machine)).toBe(true);
      const devs = values(a, "-device");
      expect(devs).toContain("virtio-serial-pci,id=vser0,max_ports=2");
      expect(devs.filter((d) => d.startsWith("virtio-9p-pci,"))).toHaveLength(2);
      expect(devs).toContain("virtio-blk-pci,drive=image");
      expect(devs.some((d) => /-device,/.test(d))).toBe(false);
    });
  }
  test("q35 drops the devices a container VM never uses", () => {
    expect(buildMachine(spec({ machine: "q35" }))).toBe("q35,vmport=off,sata=off,smbus=off");
  });
});

describe("buildQemuArgs: agent channel", () => {
  test("virtio-serial port agent.channel.0 on a listening unix socket", () => {
    const a = buildQemuArgs(spec(), tcgHost);
    expect(values(a, "-chardev")).toContain("socket,id=agent,path=/run/husk/sandboxes/sb1/agent.sock,server=on,wait=off");
    expect(values(a, "-device")).toContain("virtserialport,bus=vser0.0,chardev=agent,name=agent.channel.0");
    expect(a.join(" ")).not.toContain("vsock");
  });
  test("vsock replaces virtio-serial when asked", () => {
    const mmio = buildQemuArgs(spec(), kvmHost, { vsockCid: 42 });
    expect(values(mmio, "-device")).toContain("vhost-vsock-device,id=vsock0,guest-cid=42");
    expect(mmio.join(" ")).not.toContain("virtserialport");
    expect(mmio.join(" ")).not.toContain("agent.sock");
    const pci = buildQemuArgs(spec({ machine: "q35" }), kvmHost, { vsockCid: 42 });
    expect(values(pci, "-device")).toContain("vhost-vsock-pci,id=vsock0,guest-cid=42");
  });
  test("reserved vsock cids are refused", () => {
    for (const cid of [0, 1, 2, 1.5, -3]) expect(() => buildQemuArgs(spec(), kvmHost, { vsockCid: cid })).toThrow(HypervisorError);
  });
});

describe("buildQemuArgs: 9p shares and image", () => {
  test("shared dir exported as husk-shared; no agent share without agentDir", () => {
    const a = buildQemuArgs(spec(), tcgHost);
    expect(values(a, "-fsdev")).toEqual(["local,id=fs-shared,path=/run/husk/sandboxes/sb1/shared,security_model=none"]);
    expect(values(a, "-device")).toContain("virtio-9p-device,fsdev=fs-shared,mount_tag=husk-shared");
    expect(a.join(" ")).not.toContain("husk-agent");
  });
  test("agentDir exported read-only as husk-agent", () => {
    const a = buildQemuArgs(spec({ agentDir: "/usr/lib/husk" }), tcgHost);
    expect(values(a, "-fsdev")).toContain("local,id=fs-agent,path=/usr/lib/husk,security_model=none,readonly=on");
    expect(values(a, "-device")).toContain("virtio-9p-device,fsdev=fs-agent,mount_tag=husk-agent");
  });
  test("image attached read-only", () => {
    const a = buildQemuArgs(spec({ image: "/img/root.img" }), tcgHost);
    expect(value(a, "-drive")).toBe("file=/img/root.img,if=none,id=image,format=raw,readonly=on");
    expect(values(a, "-device")).toContain("virtio-blk-device,drive=image");
  });
  test("commas in paths are escaped so they cannot inject options", () => {
    expect(escapeOptionValue("/a,b,,c")).toBe("/a,,b,,,,c");
    const a = buildQemuArgs(spec({ sharedDir: "/x,readonly=off", consoleLog: "/l,og" }), tcgHost);
    expect(values(a, "-fsdev")[0]).toBe("local,id=fs-shared,path=/x,,readonly=off,security_model=none");
    expect(values(a, "-chardev")).toContain("file,id=console,path=/l,,og");
  });
});

describe("buildQemuArgs: network", () => {
  const network = { netns: "/var/run/netns/cni-1", nics: [{ tap: "husktap0", mac: "0a:58:0a:58:00:05" }, { tap: "husktap1" }] };
  test("no network: no NIC at all (-nodefaults), QEMU started as is", () => {
    const a = buildQemuArgs(spec(), tcgHost);
    expect(values(a, "-netdev")).toEqual([]);
    expect(buildLaunchCommand("/usr/bin/qemu", ["-m", "1"], spec())).toEqual(["/usr/bin/qemu", "-m", "1"]);
  });
  test("one tap netdev and virtio-net NIC per tap, in order, with the MAC when given", () => {
    const a = buildQemuArgs(spec({ network }), tcgHost);
    expect(values(a, "-netdev")).toEqual([
      "tap,id=net0,ifname=husktap0,script=no,downscript=no,vhost=off",
      "tap,id=net1,ifname=husktap1,script=no,downscript=no,vhost=off",
    ]);
    expect(values(a, "-device")).toContain("virtio-net-device,netdev=net0,mac=0a:58:0a:58:00:05");
    expect(values(a, "-device")).toContain("virtio-net-device,netdev=net1");
    const q35 = buildQemuArgs(spec({ network, machine: "q35" }), tcgHost);
    expect(values(q35, "-device")).toContain("virtio-net-pci,netdev=net0,mac=0a:58:0a:58:00:05,romfile=");
  });
  test("QEMU joins the netns through nsenter (which execs it: same pid)", () => {
    expect(buildLaunchCommand("/usr/bin/qemu", ["-m", "1"], spec({ network }), "/usr/bin/nsenter")).toEqual([
      "/usr/bin/nsenter",
      "--net=/var/run/netns/cni-1",
      "--",
      "/usr/bin/qemu",
      "-m",
      "1",
    ]);
  });
  test("a tap name or MAC that could inject options is refused", () => {
    expect(() => buildQemuArgs(spec({ network: { netns: "/n", nics: [{ tap: "t,script=/x" }] } }), tcgHost)).toThrow(HypervisorError);
    expect(() => buildQemuArgs(spec({ network: { netns: "/n", nics: [{ tap: "t0", mac: "aa:bb,id=x" }] } }), tcgHost)).toThrow(
      HypervisorError,
    );
  });
});

describe("buildKernelCmdline", () => {
  test("TCG: console, panic=-1, host TSC rate, JIT off, then the spec's params in order", () => {
    const s = spec({ kernelParams: ["quiet", "init=/init", "foo=bar"] });
    expect(buildKernelCmdline(s, tcgHost, "tcg")).toBe(
      "console=ttyS0 panic=-1 tsc_early_khz=2100000 husk.jit=off quiet init=/init foo=bar",
    );
  });
  test("KVM: no tsc_early_khz, JIT stays on", () => {
    expect(buildKernelCmdline(spec(), kvmHost, "kvm")).toBe("console=ttyS0 panic=-1");
  });
  test("unknown TSC rate: omitted", () => {
    expect(buildKernelCmdline(spec(), { ...tcgHost, tscKhz: undefined }, "tcg")).toBe("console=ttyS0 panic=-1 husk.jit=off");
  });
  test("spec params override driver defaults of the same key", () => {
    const s = spec({ kernelParams: ["console=hvc0", "tsc_early_khz=1000", "panic=5", "husk.jit=on"] });
    expect(buildKernelCmdline(s, tcgHost, "tcg")).toBe("console=hvc0 tsc_early_khz=1000 panic=5 husk.jit=on");
  });
  test("acpi=off with reboot already set: not duplicated", () => {
    const s = spec({ kernelParams: ["acpi=off", "reboot=k"] });
    expect(buildKernelCmdline(s, tcgHost, "tcg").match(/reboot=/g)).toHaveLength(1);
  });
  test("newlines in params are refused", () => {
    expect(() => buildKernelCmdline(spec({ kernelParams: ["a\nb"] }), tcgHost, "tcg")).toThrow(HypervisorError);
  });
  test("the -append value is the cmdline", () => {
    const a = buildQemuArgs(spec({ kernelParams: ["quiet"] }), tcgHost);
    expect(value(a, "-append")).toBe("console=ttyS0 panic=-1 tsc_early_khz=2100000 husk.jit=off quiet");
  });
});
