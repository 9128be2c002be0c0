import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as api from "../../../src/core/api.ts";
import { mountsUnder } from "../../../src/host/mounts.ts";
import { containerConfig, makeEnv, readJsonFile, rejectsWith, type Env } from "./helpers.ts";

/** Container entry points on the mock drivers: normal paths and stored state after each step. */

let env: Env;
beforeEach(async () => {
  env = makeEnv();
  await api.createSandbox(env.ctx, { id: "sb", containers: [] });
});
afterEach(async () => {
  await env.cleanup();
});

const cDir = (cid: string) => join(env.root, "sandboxes", "sb", "containers", cid);
const cState = (cid: string) => readJsonFile(join(cDir(cid), "state.json"));
const sbState = () => readJsonFile(join(env.root, "sandboxes", "sb", "state.json"));
const sh = { user: { uid: 0, gid: 0 }, args: ["sh", "-c", "echo hi"], cwd: "/" };

describe("container lifecycle", () => {
  test("create → start → ps → stats → exec → update → pause → resume → kill → stop → delete", async () => {
    const created = await api.createContainer(env.ctx, "sb", containerConfig("c1", env.bundle("b1")));
    expect(created).toMatchObject({ id: "c1", sandboxId: "sb", state: "ready", pid: process.pid });
    expect(cState("c1").state).toBe("ready");
    expect(sbState().containers).toEqual(["c1"]);
    expect(api.sandboxOfContainer(env.root, "c1")).toBe("sb");

    const started = await api.startContainer(env.ctx, "sb", "c1");
    expect(started.state).toBe("running");
    expect(cState("c1").state).toBe("running");
    expect(sbState().state).toBe("running"); // first start makes the sandbox running

    const ps = await api.processListContainer(env.ctx, "sb", "c1");
    expect(ps.map((p) => p.command)).toEqual(["/bin/sh"]);
    const stats = await api.statsContainer(env.ctx, "sb", "c1");
    expect(stats.pids.current).toBe(1);

    // OOM reports for this container reach the watcher; others' do not; none after unwatch.
    const ooms: string[] = [];
    const unwatch = await api.watchContainerOom(env.ctx, "sb", "c1", () => ooms.push("c1"));
    env.ctx.agents.at(-1)!.emitOom("c1");
    env.ctx.agents.at(-1)!.emitOom("other");
    await unwatch();
    env.ctx.agents.at(-1)!.emitOom("c1");
    expect(ooms).toEqual(["c1"]);

    const exec = await api.enterContainer(env.ctx, "sb", "c1", { process: sh, io: { terminal: false, detach: false }, execId: "e1" });
    expect(exec.execId).toBe("e1");
    expect(exec.guestPid).toBeGreaterThan(1);
    expect((await api.processListContainer(env.ctx, "sb", "c1")).map((p) => p.command)).toEqual(["/bin/sh", "sh -c echo hi"]);
    // The exec's stdio streams are live: stdin echoes to stdout in the mock guest.
    const streams = env.ctx.launcher.streams("c1", "e1");
    const writer = streams?.stdin?.getWriter();
    await writer?.write(new TextEncoder().encode("ping"));
    const reader = streams?.stdout?.getReader();
    const chunk = await reader?.read();
    expect(new TextDecoder().decode(chunk?.value)).toBe("ping");
    env.ctx.agents.at(-1)?.exitProcess("c1", "e1", 3);
    expect(await exec.exited).toBe(3);

    await api.updateContainer(env.ctx, "sb", "c1", { pids: { limit: 42 } });
    expect(readJsonFile(join(cDir("c1"), "config.json")).spec.linux.resources.pids.limit).toBe(42);

    expect((await api.pauseContainer(env.ctx, "sb", "c1")).state).toBe("paused");
    expect(cState("c1").state).toBe("paused");
    expect((await api.resumeContainer(env.ctx, "sb", "c1")).state).toBe("running");
    expect(cState("c1").state).toBe("running");

    await api.killContainer(env.ctx, "sb", "c1", 0); // signal 0: probe, nothing dies
    expect(env.ctx.agents.at(-1)?.guest().containers.c1?.status).toBe("running");
    await api.killContainer(env.ctx, "sb", "c1", 10, true);
    expect(env.ctx.agents.at(-1)?.guest().containers.c1?.status).toBe("stopped");

    const stopped = await api.stopContainer(env.ctx, "sb", "c1");
    expect(stopped).toMatchObject({ state: "stopped", exitCode: 138 });
    expect(cState("c1")).toMatchObject({ state: "stopped", exitCode: 138 });

    await api.deleteContainer(env.ctx, "sb", "c1");
    expect(existsSync(cDir("c1"))).toBe(false);
    expect(existsSync(join(env.root, "containers", "c1"))).toBe(false);
    expect(mountsUnder(join(env.root, "sandboxes", "sb"))).toEqual([]);
    expect(sbState().containers).toEqual([]);
    // The sandbox stays: deleting its last container is the caller's decision.
    expect(sbState().state).toBe("running");
    expect(env.ctx.agents.at(-1)?.guest().containers.c1).toBeUndefined();
  });

  test("a stopped container starts again (relaunched in the guest)", async () => {
    await api.createContainer(env.ctx, "sb", containerConfig("c1", env.bundle("b1")));
    await api.startContainer(env.ctx, "sb", "c1");
    await api.stopContainer(env.ctx, "sb", "c1");
    const again = await api.startContainer(env.ctx, "sb", "c1");
    expect(again.state).toBe("running");
    expect(again.exitCode).toBeUndefined();
    expect(cState("c1").exitCode).toBeUndefined();
    expect(env.ctx.agents.at(-1)?.guest().containers.c1?.status).toBe("running");
  });

  test("a ready container can be deleted; pid file written by the launcher", async () => {
    const pidFile = join(env.dir, "pid");
    await api.createContainer(env.ctx, "sb", {
      ...containerConfig("c1", env.bundle("b1")),
      io: { terminal: false, detach: true, pidFile },
    });
    expect(readFileSync(pidFile, "utf8")).toBe(String(process.pid));
    await api.deleteContainer(env.ctx, "sb", "c1");
    expect(existsSync(cDir("c1"))).toBe(false);
  });

  test("force delete of a running container", async () => {
    await api.createContainer(env.ctx, "sb", containerConfig("c1", env.bundle("b1")));
    await api.startContainer(env.ctx, "sb", "c1");
    await rejectsWith(api.deleteContainer(env.ctx, "sb", "c1"), "E_INVALID_STATE");
    await api.deleteContainer(env.ctx, "sb", "c1", { force: true });
    expect(existsSync(cDir("c1"))).toBe(false);
  });

  test("statusContainer reports stored state", async () => {
    await api.createContainer(env.ctx, "sb", containerConfig("c1", env.bundle("b1")));
    const s = await api.statusContainer(env.ctx, "sb", "c1");
    expect(s).toMatchObject({ id: "c1", state: "ready", bundle: join(env.dir, "b1") });
    expect(api.toOciState(s)).toEqual({
      ociVersion: "1.0.2",
      id: "c1",
      status: "created",
      pid: process.pid,
      bundle: join(env.dir, "b1"),
      annotations: {},
    });
  });

  test("a failed createContainer leaves nothing behind and the sandbox usable", async () => {
    await env.cleanup();
    env = makeEnv({ agent: { failOn: { createContainer: new Error("guest says no") } } });
    await api.createSandbox(env.ctx, { id: "sb", containers: [] });
    await expect(api.createContainer(env.ctx, "sb", containerConfig("c1", env.bundle("b1")))).rejects.toThrow("guest says no");
    expect(existsSync(cDir("c1"))).toBe(false);
    expect(existsSync(join(env.root, "sandboxes/sb/shared/c1"))).toBe(false);
    expect(existsSync(join(env.root, "containers", "c1"))).toBe(false);
    expect(mountsUnder(env.dir)).toEqual([]);
    expect(sbState().containers).toEqual([]);
  });

  test("a failing containerCreate hook aborts, runs poststop, and cleans up", async () => {
    const seen: string[] = [];
    await env.cleanup();
    env = makeEnv({
      lifecycle: {
        async sandboxPrestart() {},
        async containerCreate() {
          throw new Error("policy refused");
        },
        async containerCreated() {},
        async containerStart() {},
        async containerPoststart() {},
        async containerPoststop(c) {
          seen.push(`poststop ${c.containerId}`);
        },
        async sandboxPoststop() {},
      },
    });
    await api.createSandbox(env.ctx, { id: "sb", containers: [] });
    await expect(api.createContainer(env.ctx, "sb", containerConfig("c1", env.bundle("b1")))).rejects.toThrow("policy refused");
    expect(seen).toEqual(["poststop c1"]);
    expect(mountsUnder(env.dir)).toEqual([]);
    expect(existsSync(join(env.root, "containers", "c1"))).toBe(false);
  });

  test("a failing startContainer hook stops the container", async () => {
    await env.cleanup();
    env = makeEnv({
      lifecycle: {
        async sandboxPrestart() {},
        async containerCreate(c) {
          return c.spec;
        },
        async containerCreated() {},
        async containerStart() {
          throw new Error("start hook failed");
        },
        async containerPoststart() {},
        async containerPoststop() {},
        async sandboxPoststop() {},
      },
    });
    await api.createSandbox(env.ctx, { id: "sb", containers: [containerConfig("c1", env.bundle("b1"))] });
    await expect(api.startContainer(env.ctx, "sb", "c1")).rejects.toThrow("start hook failed");
    expect(cState("c1").state).toBe("stopped");
    // Restarting the stopped container runs the hook again and reports its error, not a state error.
    await expect(api.startContainer(env.ctx, "sb", "c1")).rejects.toThrow("start hook failed");
    expect(cState("c1").state).toBe("stopped");
  });
});
