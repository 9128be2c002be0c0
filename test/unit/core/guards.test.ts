import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as api from "../../../src/core/api.ts";
import type { RuntimeContext } from "../../../src/core/ports.ts";
import { containerConfig, makeEnv, readJsonFile, rejectsWith, type Env } from "./helpers.ts";

/**
 * Seed semantics of every entry point: empty and invalid ids, unknown ids,
 * duplicates, and every invalid state transition (E_INVALID_STATE, nothing
 * changed on disk).
 */

let env: Env;
const proc = { user: { uid: 0, gid: 0 }, args: ["true"], cwd: "/" };
const io = { terminal: false, detach: true };

type Call = (ctx: RuntimeContext, sid: string, cid: string) => Promise<unknown>;
const SANDBOX_CALLS: Record<string, (ctx: RuntimeContext, sid: string) => Promise<unknown>> = {
  fetchSandbox: (c, s) => api.fetchSandbox(c, s),
  startSandbox: (c, s) => api.startSandbox(c, s),
  stopSandbox: (c, s) => api.stopSandbox(c, s),
  deleteSandbox: (c, s) => api.deleteSandbox(c, s),
  statusSandbox: (c, s) => api.statusSandbox(c, s),
  pauseSandbox: (c, s) => api.pauseSandbox(c, s),
  resumeSandbox: (c, s) => api.resumeSandbox(c, s),
};
const CONTAINER_CALLS: Record<string, Call> = {
  createContainer: (c, s, id) => api.createContainer(c, s, containerConfig(id, join(env.dir, "bx"))),
  startContainer: (c, s, id) => api.startContainer(c, s, id),
  stopContainer: (c, s, id) => api.stopContainer(c, s, id),
  deleteContainer: (c, s, id) => api.deleteContainer(c, s, id),
  enterContainer: (c, s, id) => api.enterContainer(c, s, id, { process: proc, io }),
  statusContainer: (c, s, id) => api.statusContainer(c, s, id),
  killContainer: (c, s, id) => api.killContainer(c, s, id, 15),
  processListContainer: (c, s, id) => api.processListContainer(c, s, id),
  statsContainer: (c, s, id) => api.statsContainer(c, s, id),
  updateContainer: (c, s, id) => api.updateContainer(c, s, id, { pids: { limit: 5 } }),
  pauseContainer: (c, s, id) => api.pauseContainer(c, s, id),
  resumeContainer: (c, s, id) => api.resumeContainer(c, s, id),
  watchContainerOom: async (c, s, id) => (await api.watchContainerOom(c, s, id, () => {}))(),
};

beforeAll(async () => {
  env = makeEnv();
  env.bundle("bx");
  // Sandbox "box" holds one container in each state.
  await api.createSandbox(env.ctx, {
    id: "box",
    containers: ["c-ready", "c-running", "c-paused", "c-stopped"].map((id) => containerConfig(id, env.bundle(`b-${id}`))),
  });
  for (const id of ["c-running", "c-paused", "c-stopped"]) await api.startContainer(env.ctx, "box", id);
  await api.pauseContainer(env.ctx, "box", "c-paused");
  await api.stopContainer(env.ctx, "box", "c-stopped");
  // One sandbox in each state.
  await api.createSandbox(env.ctx, { id: "s-ready", containers: [] });
  await api.runSandbox(env.ctx, { id: "s-running", containers: [containerConfig("r1", env.bundle("br1"))] });
  await api.runSandbox(env.ctx, { id: "s-paused", containers: [containerConfig("p1", env.bundle("bp1"))] });
  await api.pauseSandbox(env.ctx, "s-paused");
  await api.runSandbox(env.ctx, { id: "s-stopped", containers: [] });
  await api.stopSandbox(env.ctx, "s-stopped");
});
afterAll(async () => {
  await env.cleanup();
});

const stateOf = (sid: string, cid?: string) =>
  readJsonFile(join(env.root, "sandboxes", sid, ...(cid ? ["containers", cid] : []), "state.json")).state;

describe("ids", () => {
  for (const [name, call] of Object.entries(SANDBOX_CALLS)) {
    test(`${name}: empty id → E_INVALID_ID, bad id → E_INVALID_ID, unknown → E_NOT_FOUND`, async () => {
      await rejectsWith(call(env.ctx, ""), "E_INVALID_ID");
      await rejectsWith(call(env.ctx, "../etc"), "E_INVALID_ID");
      await rejectsWith(call(env.ctx, "a/b"), "E_INVALID_ID");
      await rejectsWith(call(env.ctx, "nope"), "E_NOT_FOUND");
    });
  }
  for (const [name, call] of Object.entries(CONTAINER_CALLS)) {
    test(`${name}: empty/bad sandbox or container id → E_INVALID_ID; unknown → E_NOT_FOUND`, async () => {
      await rejectsWith(call(env.ctx, "", "c-ready"), "E_INVALID_ID");
      await rejectsWith(call(env.ctx, "box", ""), "E_INVALID_ID");
      await rejectsWith(call(env.ctx, "box", ".hidden"), "E_INVALID_ID");
      await rejectsWith(call(env.ctx, "nope", "c-x"), "E_NOT_FOUND");
      if (name !== "createContainer") await rejectsWith(call(env.ctx, "box", "unknown"), "E_NOT_FOUND");
    });
  }
  test("createSandbox/runSandbox: empty, invalid, duplicate ids", async () => {
    for (const create of [api.createSandbox, api.runSandbox]) {
      await rejectsWith(create(env.ctx, { id: "", containers: [] }), "E_INVALID_ID");
      await rejectsWith(create(env.ctx, { id: "x".repeat(200), containers: [] }), "E_INVALID_ID");
      await rejectsWith(create(env.ctx, { id: "ok", containers: [containerConfig("", join(env.dir, "bx"))] }), "E_INVALID_ID");
      await rejectsWith(create(env.ctx, { id: "box", containers: [] }), "E_ALREADY_EXISTS");
      await rejectsWith(
        create(env.ctx, { id: "dup", containers: [containerConfig("d", join(env.dir, "bx")), containerConfig("d", join(env.dir, "bx"))] }),
        "E_ALREADY_EXISTS",
      );
    }
    expect(existsSync(join(env.root, "sandboxes", "ok"))).toBe(false);
    expect(existsSync(join(env.root, "sandboxes", "dup"))).toBe(false);
  });
  test("container ids are unique host-wide; the failed sandbox leaves nothing", async () => {
    await rejectsWith(api.createContainer(env.ctx, "box", containerConfig("c-ready", join(env.dir, "bx"))), "E_ALREADY_EXISTS");
    await rejectsWith(api.createContainer(env.ctx, "s-ready", containerConfig("c-ready", join(env.dir, "bx"))), "E_ALREADY_EXISTS");
    await rejectsWith(
      api.createSandbox(env.ctx, { id: "other", containers: [containerConfig("r1", join(env.dir, "bx"))] }),
      "E_ALREADY_EXISTS",
    );
    expect(existsSync(join(env.root, "sandboxes", "other"))).toBe(false);
    expect(api.sandboxOfContainer(env.root, "r1")).toBe("s-running");
  });
  test("bad signal → E_USAGE; bad exec process → E_INVALID_SPEC; missing rootfs → E_BUNDLE", async () => {
    await rejectsWith(api.killContainer(env.ctx, "box", "c-running", 99), "E_USAGE");
    await rejectsWith(api.enterContainer(env.ctx, "box", "c-running", { process: { ...proc, cwd: "relative" }, io }), "E_INVALID_SPEC");
    await rejectsWith(api.createContainer(env.ctx, "box", containerConfig("nb", join(env.dir, "missing"))), "E_BUNDLE");
    expect(existsSync(join(env.root, "containers", "nb"))).toBe(false);
  });
});

describe("container config checked at the boundary", () => {
  test("bad spec → E_INVALID_SPEC naming the field; bad io → E_USAGE; relative bundle → E_BUNDLE; nothing created", async () => {
    const bundle = join(env.dir, "bx");
    const good = containerConfig("n3", bundle);
    const badSpec = { ...good, spec: { ...good.spec, process: { ...good.spec.process, cwd: "tmp" } } } as typeof good;
    const err = await rejectsWith(api.createContainer(env.ctx, "box", badSpec), "E_INVALID_SPEC");
    expect(err.message).toContain("process.cwd");
    await rejectsWith(api.createSandbox(env.ctx, { id: "n3s", containers: [badSpec] }), "E_INVALID_SPEC");
    await rejectsWith(api.createContainer(env.ctx, "box", { ...good, io: { terminal: "yes" } as never }), "E_USAGE");
    await rejectsWith(api.createContainer(env.ctx, "box", { ...good, bundle: "bx" }), "E_BUNDLE");
    expect(existsSync(join(env.root, "containers", "n3"))).toBe(false);
    expect(existsSync(join(env.root, "sandboxes", "n3s"))).toBe(false);
  });
});

describe("invalid container transitions → E_INVALID_STATE, state unchanged", () => {
  const REFUSED: Record<string, string[]> = {
    startContainer: ["c-running", "c-paused"],
    stopContainer: ["c-stopped"],
    pauseContainer: ["c-ready", "c-paused", "c-stopped"],
    resumeContainer: ["c-ready", "c-running", "c-stopped"],
    deleteContainer: ["c-running", "c-paused"],
    killContainer: ["c-stopped"],
    enterContainer: ["c-paused", "c-stopped"],
    statsContainer: ["c-ready", "c-stopped"],
    updateContainer: ["c-stopped"],
  };
  for (const [name, cids] of Object.entries(REFUSED)) {
    test(`${name} refuses ${cids.join(", ")}`, async () => {
      for (const cid of cids) {
        const before = stateOf("box", cid);
        await rejectsWith((CONTAINER_CALLS[name] as Call)(env.ctx, "box", cid), "E_INVALID_STATE");
        expect(stateOf("box", cid)).toBe(before);
      }
    });
  }
  test("container operations need a usable sandbox", async () => {
    await rejectsWith(api.createContainer(env.ctx, "s-paused", containerConfig("n1", join(env.dir, "bx"))), "E_INVALID_STATE");
    await rejectsWith(api.createContainer(env.ctx, "s-stopped", containerConfig("n2", join(env.dir, "bx"))), "E_INVALID_STATE");
    await rejectsWith(api.enterContainer(env.ctx, "s-paused", "p1", { process: proc, io }), "E_INVALID_STATE");
    await rejectsWith(api.pauseContainer(env.ctx, "s-paused", "p1"), "E_INVALID_STATE");
    // The guest of a paused sandbox cannot answer: refused before anything waits on it.
    for (const name of [
      "stopContainer",
      "killContainer",
      "processListContainer",
      "statsContainer",
      "updateContainer",
      "deleteContainer",
      "watchContainerOom",
    ]) {
      await rejectsWith((CONTAINER_CALLS[name] as Call)(env.ctx, "s-paused", "p1"), "E_INVALID_STATE");
    }
    expect(stateOf("s-paused", "p1")).toBe("paused");
    expect(existsSync(join(env.root, "containers", "n1"))).toBe(false);
    expect(stateOf("s-paused")).toBe("paused");
  });
});

describe("what runc allows in every state", () => {
  test("kill --all of a stopped container succeeds (runc 1.1; containerd's shim sends it after every stop), without --all it is refused", async () => {
    await api.killContainer(env.ctx, "box", "c-stopped", 9, true);
    await api.killContainer(env.ctx, "box", "c-stopped", 0, true);
    await rejectsWith(api.killContainer(env.ctx, "box", "c-stopped", 0), "E_INVALID_STATE");
    await rejectsWith(api.killContainer(env.ctx, "box", "c-stopped", 65, true), "E_USAGE");
    expect(stateOf("box", "c-stopped")).toBe("stopped");
  });
  test("signal 0 probes a created or running container", async () => {
    await api.killContainer(env.ctx, "box", "c-ready", 0);
    await api.killContainer(env.ctx, "box", "c-running", 0, true);
    expect(stateOf("box", "c-ready")).toBe("ready");
    expect(stateOf("box", "c-running")).toBe("running");
  });
  test("ps of a stopped container is an empty list", async () => {
    expect(await api.processListContainer(env.ctx, "box", "c-stopped")).toEqual([]);
  });
  test("exec into a created container", async () => {
    const r = await api.enterContainer(env.ctx, "box", "c-ready", { process: proc, io });
    expect(r.guestPid).toBeGreaterThan(0);
    expect(stateOf("box", "c-ready")).toBe("ready");
  });
});

describe("invalid sandbox transitions → E_INVALID_STATE, state unchanged", () => {
  const REFUSED: Record<string, string[]> = {
    startSandbox: ["s-running", "s-paused"],
    stopSandbox: ["s-stopped"],
    pauseSandbox: ["s-ready", "s-paused", "s-stopped"],
    resumeSandbox: ["s-ready", "s-running", "s-stopped"],
    deleteSandbox: ["s-running"],
  };
  for (const [name, sids] of Object.entries(REFUSED)) {
    test(`${name} refuses ${sids.join(", ")}`, async () => {
      for (const sid of sids) {
        const before = stateOf(sid);
        await rejectsWith((SANDBOX_CALLS[name] as (c: RuntimeContext, s: string) => Promise<unknown>)(env.ctx, sid), "E_INVALID_STATE");
        expect(stateOf(sid)).toBe(before);
      }
    });
  }
});
