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

describe("guestSpecOf: a pod's containers join the pause container's namespaces", () => {
  const pod: OciSpec = {
    ...host,
    linux: {
      namespaces: [
        { type: "pid" },
        { type: "network", path: "/proc/4242/ns/net" },
        { type: "ipc", path: "/proc/4242/ns/ipc" },
        { type: "uts", path: "/proc/4242/ns/uts" },
        { type: "mount" },
      ],
    },
  };

  test("paths naming another container's shim become that container's namespaces in the guest", () => {
    const g = guestSpecOf(pod, "app", { peers: new Map([[4242, 57]]) });
    expect(g.linux?.namespaces).toEqual([
      { type: "pid" },
      { type: "network", path: "/proc/57/ns/net" },
      { type: "ipc", path: "/proc/57/ns/ipc" },
      { type: "uts", path: "/proc/57/ns/uts" },
      { type: "mount" },
    ]);
  });

  test("PID is shared only when the pod asks (a pid path), and the guest netns stays when the VM has NICs", () => {
    const shared: OciSpec = {
      ...pod,
      linux: {
        namespaces: [
          { type: "pid", path: "/proc/4242/ns/pid" },
          { type: "network", path: "/proc/4242/ns/net" },
        ],
      },
    };
    expect(guestSpecOf(shared, "app", { vmNetwork: true, peers: new Map([[4242, 57]]) }).linux?.namespaces).toEqual([
      { type: "pid", path: "/proc/57/ns/pid" },
    ]);
  });

  test("a pid that is no container of the sandbox, or a path of another type, gives a new namespace", () => {
    const g = guestSpecOf(pod, "app", { peers: new Map([[1, 57]]) });
    expect(g.linux?.namespaces?.every((n) => n.path === undefined)).toBe(true);
    const wrong: OciSpec = { ...pod, linux: { namespaces: [{ type: "uts", path: "/proc/4242/ns/ipc" }] } };
    expect(guestSpecOf(wrong, "app", { peers: new Map([[4242, 57]]) }).linux?.namespaces).toEqual([{ type: "uts" }]);
  });
});
