import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as api from "../../../src/core/api.ts";
import { isProcessAlive } from "../../../src/host/proc.ts";
import { mountsUnder } from "../../../src/host/mounts.ts";
import { containerExitFile, containerStateFile, sandboxStateFile } from "../../../src/host/layout.ts";
import { containerConfig, makeEnv, readJsonFile, rejectsWith, type Env } from "./helpers.ts";

/** status/list repair stale state: dead shims and dead VM owners. */

let env: Env;
const standIns: Bun.Subprocess[] = [];
afterEach(async () => {
  for (const p of standIns.splice(0)) p.kill("SIGKILL");
  await env.cleanup();
});

/** A launcher whose "shim" is a real process the test can kill. */
function envWithKillableShims(): Env {
  return makeEnv({
    launcher: {
      hostPid: () => {
        const p = Bun.spawn(["sleep", "600"], { stdio: ["ignore", "ignore", "ignore"] });
        standIns.push(p);
        return p.pid;
      },
    },
  });
}

describe("stale state repair", () => {
  test("a running container whose shim died is stopped, with the shim's exit code", async () => {
    env = envWithKillableShims();
    await api.runSandbox(env.ctx, {
      id: "sb",
      containers: [containerConfig("c1", env.bundle("b1")), containerConfig("c2", env.bundle("b2"))],
    });
    const shim = standIns[0] as Bun.Subprocess;
    expect((await api.statusContainer(env.ctx, "sb", "c1")).pid).toBe(shim.pid);
    // The shim saw its process exit (exit.json) and then died: the exit code is kept.
    writeFileSync(containerExitFile(env.root, "sb", "c1"), JSON.stringify({ exitCode: 7 }));
    shim.kill("SIGKILL");
    await shim.exited;
    const status = await api.statusContainer(env.ctx, "sb", "c1");
    expect(status).toMatchObject({ state: "stopped", exitCode: 7 });
    expect(readJsonFile(containerStateFile(env.root, "sb", "c1"))).toMatchObject({ state: "stopped", exitCode: 7 });
    expect((await api.statusContainer(env.ctx, "sb", "c2")).state).toBe("running");
    expect((await api.statusSandbox(env.ctx, "sb")).state).toBe("running");
  });

  test("a shim killed before its process exited (no exit.json): the guest process is killed too", async () => {
    env = envWithKillableShims();
    await api.runSandbox(env.ctx, {
      id: "sb",
      containers: [containerConfig("c1", env.bundle("b1")), containerConfig("c2", env.bundle("b2"))],
    });
    const shim = standIns[0] as Bun.Subprocess;
    shim.kill("SIGKILL");
    await shim.exited;
    expect((await api.statusContainer(env.ctx, "sb", "c1")).state).toBe("stopped");
    expect(env.ctx.agents.at(-1)?.guest().containers.c1?.status).toBe("stopped");
    // The other container is untouched.
    expect((await api.statusContainer(env.ctx, "sb", "c2")).state).toBe("running");
    expect(env.ctx.agents.at(-1)?.guest().containers.c2?.status).toBe("running");
  });

  test("pid reuse: a live pid with another start time is not our shim", async () => {
    env = makeEnv();
    await api.createSandbox(env.ctx, { id: "sb", containers: [containerConfig("c1", env.bundle("b1"))] });
    const file = containerStateFile(env.root, "sb", "c1");
    const st = readJsonFile(file);
    expect(st.pid).toBe(process.pid);
    writeFileSync(file, JSON.stringify({ ...st, pidStart: st.pidStart + 1 }));
    expect((await api.statusContainer(env.ctx, "sb", "c1")).state).toBe("stopped");
  });

  test("a sandbox whose VM owner died is stopped with its containers; delete still cleans everything", async () => {
    env = makeEnv();
    await api.runSandbox(env.ctx, { id: "sb", containers: [containerConfig("c1", env.bundle("b1"))] });
    const vmPid = readJsonFile(sandboxStateFile(env.root, "sb")).vmPid as number;
    process.kill(vmPid, "SIGKILL");
    while (isProcessAlive(vmPid)) await Bun.sleep(5);
    const [listed] = await api.listSandbox(env.ctx);
    expect(listed?.state).toBe("stopped");
    expect(listed?.containers[0]?.state).toBe("stopped");
    expect(readJsonFile(sandboxStateFile(env.root, "sb")).state).toBe("stopped");
    await api.deleteSandbox(env.ctx, "sb");
    expect(existsSync(join(env.root, "sandboxes", "sb"))).toBe(false);
    expect(existsSync(join(env.root, "containers", "c1"))).toBe(false);
    expect(mountsUnder(env.dir)).toEqual([]);
  });

  test("a create that crashed before storing its config: delete clears it, the id is usable again", async () => {
    env = makeEnv();
    const dir = join(env.root, "sandboxes", "half");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "lock"), "");
    expect(await api.listSandbox(env.ctx)).toEqual([]);
    await rejectsWith(api.statusSandbox(env.ctx, "half"), "E_NOT_FOUND");
    await rejectsWith(api.createSandbox(env.ctx, { id: "half", containers: [] }), "E_ALREADY_EXISTS");
    await api.deleteSandbox(env.ctx, "half");
    expect(existsSync(dir)).toBe(false);
    // Even without a lock file.
    mkdirSync(dir, { recursive: true });
    await api.deleteSandbox(env.ctx, "half");
    expect(existsSync(dir)).toBe(false);
    await api.createSandbox(env.ctx, { id: "half", containers: [] });
    await api.deleteSandbox(env.ctx, "half");
  });

  test("a listed container whose files a crash removed is ignored; the sandbox stays usable", async () => {
    env = makeEnv();
    await api.createSandbox(env.ctx, {
      id: "sb",
      containers: [containerConfig("c1", env.bundle("b1")), containerConfig("c2", env.bundle("b2"))],
    });
    await api.deleteContainer(env.ctx, "sb", "c1");
    const stateFile = sandboxStateFile(env.root, "sb");
    writeFileSync(stateFile, JSON.stringify({ ...readJsonFile(stateFile), containers: ["c1", "c2"] }));
    const status = await api.statusSandbox(env.ctx, "sb");
    expect(status.containers.map((c) => c.id)).toEqual(["c2"]);
    await api.createContainer(env.ctx, "sb", containerConfig("c1", env.bundle("b1")));
    expect(readJsonFile(stateFile).containers).toEqual(["c2", "c1"]);
    await api.deleteSandbox(env.ctx, "sb");
  });
});
