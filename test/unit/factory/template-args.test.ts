import { describe, expect, test } from "bun:test";
import { buildLaunchCommand, buildQemuArgs, qmpFdSocket, templateMac } from "../../../src/hypervisor/qemu/args.ts";
import type { HostFacts } from "../../../src/hypervisor/qemu/host.ts";
import type { VmSpec } from "../../../src/hypervisor/types.ts";
import { cloneSpec, TEMPLATE_KERNEL_PARAM, templateSpec } from "../../../src/factory/spec.ts";

const host: HostFacts = { cpuFlags: new Set(["constant_tsc"]), tscKhz: 2100000, kvmOpens: true, vhostVsock: false };

const sandbox = (over: Partial<VmSpec> = {}): VmSpec => ({
  sandboxId: "sb1",
  dir: "/run/husk/sandboxes/sb1",
  sharedDir: "/run/husk/sandboxes/sb1/shared",
  binary: "qemu-system-x86_64",
  kernel: "/img/vmlinux",
  initrd: "/img/initramfs.cpio",
  machine: "microvm",
  accelerator: "auto",
  vcpus: 2,
  memoryMiB: 768,
  kernelParams: ["quiet"],
  bootTimeoutMs: 60000,
  consoleLog: "/run/husk/sandboxes/sb1/console.log",
  qmpSocket: "/run/husk/sandboxes/sb1/qmp.sock",
  agentSocket: "/run/husk/sandboxes/sb1/agent.sock",
  ...over,
});
const withNic = sandbox({ network: { netns: "/var/run/netns/cni-1", nics: [{ tap: "hk-sb1-0", mac: "0a:58:0a:00:00:05" }] } });

const values = (args: string[], flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));

describe("a template's VM", () => {
  const t = templateSpec(withNic, "/dev/shm/f/.build-k-1");
  const args = buildQemuArgs(t, host);

  test("same size, kernel and image as the sandbox; its own paths; the template kernel parameter once", () => {
    expect(t).toMatchObject({ vcpus: 2, memoryMiB: 768, kernel: "/img/vmlinux", initrd: "/img/initramfs.cpio", machine: "microvm" });
    expect(t.dir).toBe("/dev/shm/f/.build-k-1");
    expect(t.sharedDir).toBe("/dev/shm/f/.build-k-1/shared");
    expect(t.kernelParams).toEqual(["quiet", TEMPLATE_KERNEL_PARAM]);
    expect(templateSpec(t, t.dir).kernelParams).toEqual(["quiet", TEMPLATE_KERNEL_PARAM]);
    expect(t.template).toEqual({ mode: "save", dir: t.dir });
  });

  test("guest RAM is a shared file in the template dir, named by the machine", () => {
    expect(values(args, "-object")).toContain("memory-backend-file,id=mem,size=768M,mem-path=/dev/shm/f/.build-k-1/memory,share=on");
    expect(values(args, "-machine")[0]).toContain(",memory-backend=mem");
    expect(args).not.toContain("-incoming");
  });

  test("a second QMP socket, for handing QEMU the state file's fd", () => {
    expect(qmpFdSocket(t)).toBe("/dev/shm/f/.build-k-1/qmp-fd.sock");
    expect(values(args, "-chardev")).toContain("socket,id=qmpfd,path=/dev/shm/f/.build-k-1/qmp-fd.sock,server=on,wait=off");
    expect(values(args, "-mon")).toContain("chardev=qmpfd,mode=control");
  });

  test("NICs: the same count, no backend, a fixed MAC; QEMU needs no netns", () => {
    expect(values(args, "-netdev")).toEqual([]);
    expect(values(args, "-device")).toContain(`virtio-net-device,mac=${templateMac(0)}`);
    expect(buildLaunchCommand("qemu", args, t)).toEqual(["qemu", ...args]);
  });
});

describe("a clone's VM", () => {
  const c = cloneSpec(withNic, "/dev/shm/f/key1");
  const args = buildQemuArgs(c, host);

  test("the sandbox's own paths and taps; the template's RAM mapped privately; waits for its device state", () => {
    expect(c.dir).toBe(withNic.dir);
    expect(values(args, "-object")).toContain("memory-backend-file,id=mem,size=768M,mem-path=/dev/shm/f/key1/memory,share=off");
    expect(args).toContain("-S");
    expect(values(args, "-incoming")).toEqual(["defer"]);
    expect(values(args, "-netdev")).toEqual(["tap,id=net0,ifname=hk-sb1-0,script=no,downscript=no,vhost=off"]);
    // The device as the template saved it; the guest takes the interface's MAC from the network plugin.
    expect(values(args, "-device")).toContain(`virtio-net-device,netdev=net0,mac=${templateMac(0)}`);
    expect(buildLaunchCommand("qemu", args, c)[0]).toBe("nsenter");
  });

  test("the device order matches the template's (a migration stream is matched by position)", () => {
    const devices = (a: string[]) => values(a, "-device").map((d) => d.split(",")[0]);
    expect(devices(args)).toEqual(devices(buildQemuArgs(templateSpec(withNic, "/x"), host)));
  });
});

test("a sandbox without a template has none of it", () => {
  const args = buildQemuArgs(sandbox(), host);
  expect(values(args, "-object")).toEqual([]);
  expect(values(args, "-machine")[0]).not.toContain("memory-backend");
  expect(values(args, "-mon")).toEqual(["chardev=qmp,mode=control"]);
});
