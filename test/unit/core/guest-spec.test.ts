import { describe, expect, test } from "bun:test";
import { guestSpecOf } from "../../../src/core/guest-spec.ts";
import type { OciSpec } from "../../../src/oci/spec.ts";

const host: OciSpec = {
  ociVersion: "1.0.2",
  root: { path: "/host/bundle/rootfs", readonly: true },
  process: { user: { uid: 0, gid: 0 }, cwd: "/", args: ["sh"] },
  hooks: { prestart: [{ path: "/usr/bin/netns-hook" }], poststop: [{ path: "/bin/true" }] },
  linux: {
    namespaces: [{ type: "pid" }, { type: "network", path: "/var/run/netns/cni-1" }, { type: "ipc", path: "/proc/42/ns/ipc" }],
    cgroupsPath: "/default/c1",
    resources: { memory: { limit: 1 << 26, kernel: 1 << 20, kernelTCP: 1 << 20 } },
  },
  annotations: { a: "b" },
};

describe("guestSpecOf", () => {
  const guest = guestSpecOf(host, "c1");

  test("the rootfs is the 9p-shared one, keeping its other root options", () => {
    expect(guest.root).toEqual({ path: "/run/husk/shared/c1/rootfs", readonly: true });
  });

  test("hooks stay on the host: crun in the guest gets none", () => {
    expect(guest.hooks).toBeUndefined();
  });

  test("host namespace paths are dropped: new namespaces of the same types in the guest", () => {
    expect(guest.linux?.namespaces).toEqual([{ type: "pid" }, { type: "network" }, { type: "ipc" }]);
  });

  test("a VM with NICs: the container stays in the guest's network namespace, where they are", () => {
    expect(guestSpecOf(host, "c1", { vmNetwork: true }).linux?.namespaces).toEqual([{ type: "pid" }, { type: "ipc" }]);
  });

  test("cgroup v1-only kernel memory limits are dropped (as runc does on cgroup v2), the rest kept", () => {
    expect(guest.linux?.resources?.memory).toEqual({ limit: 1 << 26 });
    expect(host.linux?.resources?.memory?.kernel).toBe(1 << 20);
  });

  test("a 1.2+ ociVersion reaches crun as 1.1.0; older ones are left alone", () => {
    expect(guestSpecOf({ ...host, ociVersion: "1.3.0" }, "c1").ociVersion).toBe("1.1.0");
    expect(guestSpecOf({ ...host, ociVersion: "1.2.1" }, "c1").ociVersion).toBe("1.1.0");
    expect(guest.ociVersion).toBe("1.0.2");
  });

  test("everything else passes through, and the host spec is not modified", () => {
    expect(guest.process).toEqual(host.process);
    expect(guest.annotations).toEqual({ a: "b" });
    expect(guest.linux?.cgroupsPath).toBe("/default/c1");
    expect(host.hooks?.prestart).toHaveLength(1);
    expect(host.linux?.namespaces?.[1]).toEqual({ type: "network", path: "/var/run/netns/cni-1" });
  });
});
