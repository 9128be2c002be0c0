import { describe, expect, test } from "bun:test";
import { cgroupRelPath, hostCgroupDirs, parseCgroupMounts } from "../../../src/host/cgroup.ts";

/** The container's host cgroup (accounting only): paths, hierarchies, placing and removing for real. */

const HYBRID = [
  "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
  "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct",
  "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset",
  "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
  "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd",
  "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate",
  "42 23 0:39 / /proc rw - proc proc rw",
].join("\n");

describe("host cgroup (pure)", () => {
  test("hierarchies from mountinfo: v1 with their controllers, v2", () => {
    expect(parseCgroupMounts(HYBRID)).toEqual([
      { mountPoint: "/sys/fs/cgroup/cpu,cpuacct", root: "/", version: 1, controllers: ["cpu", "cpuacct"] },
      { mountPoint: "/sys/fs/cgroup/cpuset", root: "/", version: 1, controllers: ["cpuset"] },
      { mountPoint: "/sys/fs/cgroup/memory", root: "/", version: 1, controllers: ["memory"] },
      { mountPoint: "/sys/fs/cgroup/systemd", root: "/", version: 1, controllers: ["name=systemd"] },
      { mountPoint: "/sys/fs/cgroup/unified", root: "/", version: 2, controllers: [] },
    ]);
  });
  test("cgroupsPath forms: absolute, relative, systemd slice:prefix:name; unusable ones refused", () => {
    expect(cgroupRelPath("/libpod_parent/libpod-abc")).toBe("libpod_parent/libpod-abc");
    expect(cgroupRelPath("default/c1")).toBe("default/c1");
    expect(cgroupRelPath("machine.slice:libpod:abc")).toBe("machine.slice/libpod-abc.scope");
    expect(cgroupRelPath(":cri-containerd:abc")).toBe("system.slice/cri-containerd-abc.scope");
    expect(cgroupRelPath(undefined)).toBeUndefined();
    expect(cgroupRelPath("/")).toBeUndefined();
    expect(cgroupRelPath("/a/../../etc")).toBeUndefined();
  });
  test("one directory per hierarchy, cpuset left out (an empty v1 cpuset admits no process)", () => {
    expect(hostCgroupDirs("default/c1", parseCgroupMounts(HYBRID)).map((d) => d.dir)).toEqual([
      "/sys/fs/cgroup/cpu,cpuacct/default/c1",
      "/sys/fs/cgroup/memory/default/c1",
      "/sys/fs/cgroup/systemd/default/c1",
      "/sys/fs/cgroup/unified/default/c1",
    ]);
  });
});
