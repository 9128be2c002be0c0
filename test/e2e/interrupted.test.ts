import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hostCgroupDirs, parseCgroupMounts } from "../../src/host/cgroup.ts";
import { canRun, HUSK, husk, makeBundle, makeEnv, processesOf, waitFor, type E2eEnv } from "./env.ts";

/**
 * kill -9 at an awkward moment: `husk create` dies after its sandbox's
 * monitor and QEMU started but before the container was recorded. The
 * caller (containerd, podman) then runs `delete --force ID`: that must find
 * and kill the VM and leave no process, mount or file behind.
 */

let env: E2eEnv;
const T = 300_000;
const CGROUP_PARENT = `husk-e2e-int-${process.pid}`;
const cgroupMounts = parseCgroupMounts(readFileSync("/proc/self/mountinfo", "utf8"));

describe.skipIf(!canRun)("create killed with SIGKILL mid-way", () => {
  beforeAll(() => {
    env = makeEnv("interrupted");
  });
  afterAll(async () => {
    await env.cleanup();
    for (const { dir } of hostCgroupDirs(CGROUP_PARENT, cgroupMounts)) if (existsSync(dir)) rmdirSync(dir);
  });

  test("delete --force removes the VM it left behind", { timeout: T }, async () => {
    const bundle = makeBundle(env, "b1", ["sleep", "1000"]);
    const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
    spec.linux.cgroupsPath = `/${CGROUP_PARENT}/k1`; // QEMU joins it as it is spawned
    writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
    const create = Bun.spawn([HUSK, ...env.globals, "create", "--bundle", bundle, "k1"], { stdio: ["ignore", "ignore", "ignore"] });
    const sandbox = join(env.root, "sandboxes", "k1");
    // The monitor is up (it writes its pid file first thing): the VM is booting.
    await waitFor(() => existsSync(join(sandbox, "monitor.pid")) || undefined, 60_000, "the monitor to start");
    create.kill("SIGKILL");
    await create.exited;
    expect(processesOf(env.root).length).toBeGreaterThan(0); // the orphaned monitor/QEMU are really there
    // The orphaned monitor goes on and spawns QEMU, which joins the host cgroup.
    const cgroupDirs = hostCgroupDirs(`${CGROUP_PARENT}/k1`, cgroupMounts);
    await waitFor(() => cgroupDirs.every(({ dir }) => existsSync(dir)) || undefined, 30_000, "QEMU in its host cgroup");

    const del = await husk(env, ["delete", "--force", "k1"]);
    expect(del.code).toBe(0);
    await waitFor(() => processesOf(env.root).length === 0 || undefined, 20_000, "the VM processes to go");
    expect(existsSync(sandbox)).toBe(false);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(env.root);
    for (const { dir } of cgroupDirs) expect(existsSync(dir)).toBe(false);
    // And the id is free again.
    expect((await husk(env, ["state", "k1"])).code).not.toBe(0);
  });
});
