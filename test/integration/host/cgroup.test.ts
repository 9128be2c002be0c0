import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { hostCgroupDirs, parseCgroupMounts, placeInHostCgroup, removeHostCgroup } from "../../../src/host/cgroup.ts";

/** Placing processes in a real host cgroup (root); the path logic is unit-tested in test/unit/core/host-cgroup.test.ts. */
const mounts = existsSync("/proc/self/mountinfo") ? parseCgroupMounts(readFileSync("/proc/self/mountinfo", "utf8")) : [];
const canCgroup = process.getuid?.() === 0 && mounts.length > 0;
if (!canCgroup) console.warn("skip: host cgroup placement tests need root and a mounted cgroup hierarchy");
const PARENT = `husk-test-${process.pid}`;

describe.skipIf(!canCgroup)("host cgroup placement (root)", () => {
  const sleeper = Bun.spawn(["sleep", "60"]);
  afterAll(() => {
    sleeper.kill();
    for (const { dir } of hostCgroupDirs(PARENT, mounts)) if (existsSync(dir)) rmdirSync(dir);
  });

  test("a process placed in cgroupsPath shows there in every hierarchy; removal moves it out and removes the leaf only", async () => {
    const path = `/${PARENT}/c1`;
    placeInHostCgroup(path, [sleeper.pid]);
    const dirs = hostCgroupDirs(`${PARENT}/c1`, mounts);
    expect(dirs.length).toBeGreaterThan(0);
    for (const { dir } of dirs) expect(readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n")).toContain(String(sleeper.pid));
    await removeHostCgroup(path);
    for (const { dir } of dirs) expect(existsSync(dir)).toBe(false);
    // The parent stays (shared, as /libpod_parent is); the process lives on elsewhere.
    expect(existsSync(join(dirs[0]!.mount.mountPoint, PARENT))).toBe(true);
    expect(sleeper.killed).toBe(false);
    await removeHostCgroup(path); // idempotent
  });
});
