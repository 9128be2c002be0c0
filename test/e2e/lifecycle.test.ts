import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hostCgroupDirs, parseCgroupMounts } from "../../src/host/cgroup.ts";
import { alive, canRun, husk, leftovers, makeBundle, makeEnv, waitFor, type E2eEnv } from "./env.ts";

/**
 * One container through the runc lifecycle, as containerd's shim drives it,
 * on a real VM (QEMU, TCG here): create → state created (pid alive, pid file)
 * → start → running → kill → stopped (exit status from the shim) → delete.
 */

let env: E2eEnv;
const T = 300_000;
const CGROUP_PARENT = `husk-e2e-${process.pid}`;
const cgroupMounts = parseCgroupMounts(readFileSync("/proc/self/mountinfo", "utf8"));

describe.skipIf(!canRun)("runc lifecycle on a VM", () => {
  beforeAll(() => {
    env = makeEnv("lifecycle");
  });
  afterAll(async () => {
    await env.cleanup();
    for (const { dir } of hostCgroupDirs(CGROUP_PARENT, cgroupMounts)) if (existsSync(dir)) rmdirSync(dir);
  });

  test("create, state, start, kill, delete", { timeout: T }, async () => {
    const bundle = makeBundle(env, "b1", ["sleep", "1000"]);
    // A host cgroup as containerd names one: the shim and the VM are accounted there.
    const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
    spec.linux.cgroupsPath = `/${CGROUP_PARENT}/c1`;
    writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
    const pidFile = join(env.dir, "init.pid");
    const log = join(env.dir, "log.json");
    const created = await husk(env, ["--log", log, "--log-format", "json", "create", "--bundle", bundle, "--pid-file", pidFile, "c1"]);
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);

    const pid = Number(readFileSync(pidFile, "utf8"));
    expect(pid).toBeGreaterThan(1);
    expect(alive(pid)).toBe(true);

    const cgroupDirs = hostCgroupDirs(`${CGROUP_PARENT}/c1`, cgroupMounts);
    expect(cgroupDirs.length).toBeGreaterThan(0);
    for (const { dir } of cgroupDirs) {
      const procs = readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean);
      expect(procs).toContain(String(pid));
      expect(procs.map((p) => readFileSync(`/proc/${p}/comm`, "utf8").trim())).toContain("qemu-system-x86");
    }

    const st1 = JSON.parse((await husk(env, ["state", "c1"])).stdout);
    expect(st1).toMatchObject({ id: "c1", status: "created", pid, bundle, rootfs: join(bundle, "rootfs") });
    expect(Date.parse(st1.created)).not.toBeNaN();

    expect((await husk(env, ["start", "c1"])).code).toBe(0);
    expect(JSON.parse((await husk(env, ["state", "c1"])).stdout).status).toBe("running");

    const again = await husk(env, ["start", "c1"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/husk: .*running/);

    const ps = await husk(env, ["ps", "--format", "json", "c1"]);
    expect(ps.code).toBe(0);
    expect(JSON.parse(ps.stdout)).toBeArray();

    const list = JSON.parse((await husk(env, ["list", "--format", "json"])).stdout);
    expect(list.map((s: { id: string }) => s.id)).toEqual(["c1"]);

    expect((await husk(env, ["pause", "c1"])).code).toBe(0);
    expect(JSON.parse((await husk(env, ["state", "c1"])).stdout).status).toBe("paused");
    expect((await husk(env, ["resume", "c1"])).code).toBe(0);
    expect(JSON.parse((await husk(env, ["state", "c1"])).stdout).status).toBe("running");

    const ev = await husk(env, ["events", "--stats", "c1"]);
    expect(ev.code).toBe(0);
    expect(JSON.parse(ev.stdout)).toMatchObject({ type: "stats", id: "c1", data: { pids: { current: expect.any(Number) } } });
    expect((await husk(env, ["update", "--memory", "100m", "--pids-limit", "50", "c1"])).code).toBe(0);
    const blkio = await husk(env, ["update", "--blkio-weight", "10", "c1"]);
    expect(blkio.code).toBe(1);
    expect(blkio.stderr).toContain("cannot be honoured");

    expect((await husk(env, ["kill", "c1", "KILL"])).code).toBe(0);
    await waitFor(async () => JSON.parse((await husk(env, ["state", "c1"])).stdout).status === "stopped", 60_000, "stopped");
    await waitFor(() => !alive(pid), 10_000, "shim exit");

    // Only a created container starts (runtime spec, runc): a stopped one is refused and stays stopped.
    const restart = await husk(env, ["start", "c1"]);
    expect(restart.code).toBe(1);
    expect(restart.stderr).toContain("not created");
    expect(JSON.parse((await husk(env, ["state", "c1"])).stdout).status).toBe("stopped");

    const del = await husk(env, ["delete", "c1"]);
    expect(del.code).toBe(0);
    const gone = await husk(env, ["state", "c1"]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("not found");
    expect(leftovers(env)).toEqual([]);
    for (const { dir } of cgroupDirs) expect(existsSync(dir)).toBe(false);
  });

  test("run in the foreground exits with the process's status: 0, 3, 137", { timeout: T }, async () => {
    const cases: [string[], number][] = [
      [["true"], 0],
      [["sh", "-c", "echo out; echo err >&2; exit 3"], 3],
    ];
    for (const [i, [args, code]] of cases.entries()) {
      const bundle = makeBundle(env, `run${i}`, args);
      const r = await husk(env, ["run", "--bundle", bundle, `r${i}`]);
      expect({ args, code: r.code }).toEqual({ args, code });
      if (code === 3) {
        expect(r.stdout).toBe("out\n");
        expect(r.stderr).toBe("err\n");
      }
    }
    // 137: killed by SIGKILL from outside (the container's pid 1 cannot SIGKILL itself).
    const bundle = makeBundle(env, "run-kill", ["sleep", "1000"]);
    const running = husk(env, ["run", "--bundle", bundle, "rk"]);
    await waitFor(
      async () => {
        const st = await husk(env, ["state", "rk"]);
        return st.code === 0 && JSON.parse(st.stdout).status === "running";
      },
      240_000,
      "running",
    );
    expect((await husk(env, ["kill", "rk", "9"])).code).toBe(0);
    expect((await running).code).toBe(137);
    expect(leftovers(env)).toEqual([]);
  });
});
