import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import * as api from "../../../src/core/api.ts";
import { NOOP_LIFECYCLE } from "../../../src/core/ports.ts";
import { mountsUnder } from "../../../src/host/mounts.ts";
import { isProcessAlive } from "../../../src/host/proc.ts";
import { containerConfig, makeEnv, minimalSpec, readJsonFile, type Env } from "./helpers.ts";

/** Sandbox entry points on the mock drivers: normal paths and what is on disk after each step. */

let env: Env;
beforeEach(() => {
  env = makeEnv();
});
afterEach(async () => {
  await env.cleanup();
});

const sbDir = () => join(env.root, "sandboxes", "sb");
const sbState = () => readJsonFile(join(sbDir(), "state.json"));
const cState = (cid: string) => readJsonFile(join(sbDir(), "containers", cid, "state.json"));

describe("createSandbox", () => {
  test("stores config and state, boots the VM, creates containers ready, shares the rootfs", async () => {
    const b1 = env.bundle("b1");
    const b2 = env.bundle("b2");
    const status = await api.createSandbox(env.ctx, {
      id: "sb",
      containers: [containerConfig("c1", b1), containerConfig("c2", b2)],
      annotations: { "io.husk/test": "yes" },
    });
    expect(status.state).toBe("ready");
    expect(status.containers.map((c) => [c.id, c.state])).toEqual([
      ["c1", "ready"],
      ["c2", "ready"],
    ]);
    // On disk: layout, modes, contents.
    expect(statSync(sbDir()).mode & 0o777).toBe(0o700);
    expect(statSync(join(sbDir(), "sandbox.json")).mode & 0o777).toBe(0o600);
    const record = readJsonFile(join(sbDir(), "sandbox.json"));
    expect(record.id).toBe("sb");
    expect(record.annotations).toEqual({ "io.husk/test": "yes" });
    expect(record.vm.consoleLog).toBe(join(sbDir(), "console.log"));
    expect(record.vm.qmpSocket).toBe(join(sbDir(), "qmp.sock"));
    expect(record.vm.agentSocket).toBe(join(sbDir(), "agent.sock"));
    expect(record.vm.sharedDir).toBe(join(sbDir(), "shared"));
    expect(sbState()).toMatchObject({ state: "ready", containers: ["c1", "c2"] });
    expect(isProcessAlive(sbState().vmPid, sbState().vmPidStart)).toBe(true);
    // Root binds the rootfs into the share (test/integration/core/mounts.test.ts); others get a symlink.
    expect(cState("c1")).toMatchObject({ state: "ready", pid: process.pid, share: process.getuid?.() === 0 ? "bind" : "symlink" });
    const cfg = readJsonFile(join(sbDir(), "containers", "c1", "config.json"));
    expect(cfg.guestSpec.root.path).toBe("/run/husk/shared/c1/rootfs");
    expect(cfg.spec.root.path).toBe("rootfs");
    // The share shows the bundle's rootfs; the mapping names the sandbox.
    expect(Bun.file(join(sbDir(), "shared/c1/rootfs/marker")).size).toBeGreaterThan(0);
    expect(readlinkSync(join(env.root, "containers", "c1"))).toBe("sb");
    // The guest got the rewritten spec.
    const guest = env.ctx.agents.at(-1)?.guest();
    expect(Object.keys(guest?.containers ?? {})).toEqual(["c1", "c2"]);
    expect(env.ctx.hypervisors[0]?.calls.map((c) => c.method)).toEqual(["prepare", "start"]);
  });

  test("sizes the VM from the first container's resources", async () => {
    const spec = minimalSpec();
    spec.linux = { resources: { cpu: { quota: 250000, period: 100000 }, memory: { limit: 256 * 1024 * 1024 } } };
    await api.createSandbox(env.ctx, { id: "sb", containers: [containerConfig("c1", env.bundle("b", spec), spec)] });
    const record = readJsonFile(join(sbDir(), "sandbox.json"));
    expect(record.vm.vcpus).toBe(3);
    expect(record.vm.memoryMiB).toBe(512 + 256);
  });

  test("sandbox prestart sees the VM size the core boots, overrides applied", async () => {
    const seen: unknown[] = [];
    await env.cleanup();
    env = makeEnv({
      lifecycle: {
        ...NOOP_LIFECYCLE,
        async sandboxPrestart(c) {
          seen.push(c.vm);
        },
      },
    });
    const spec = minimalSpec();
    spec.linux = { resources: { memory: { limit: 256 * 1024 * 1024 } } };
    await api.createSandbox(env.ctx, {
      id: "sb",
      containers: [containerConfig("c1", env.bundle("b", spec), spec)],
      hypervisor: { vcpus: 2 },
    });
    const record = readJsonFile(join(sbDir(), "sandbox.json"));
    expect(seen).toEqual([{ vcpus: 2, memoryMiB: 512 + 256 }]);
    expect({ vcpus: record.vm.vcpus, memoryMiB: record.vm.memoryMiB }).toEqual({ vcpus: 2, memoryMiB: 768 });
  });

  test("a sandbox without containers is allowed", async () => {
    const s = await api.createSandbox(env.ctx, { id: "sb", containers: [] });
    expect(s.containers).toEqual([]);
    expect(sbState().containers).toEqual([]);
  });
});

describe("sandbox lifecycle", () => {
  test("run → pause → resume → stop → start → delete, state on disk after each step", async () => {
    const b = env.bundle("b");
    const ran = await api.runSandbox(env.ctx, { id: "sb", containers: [containerConfig("c1", b)] });
    expect(ran.state).toBe("running");
    expect(sbState().state).toBe("running");
    expect(cState("c1").state).toBe("running");
    expect(cState("c1").startedAt).toBeString();

    await api.pauseSandbox(env.ctx, "sb");
    expect(sbState().state).toBe("paused");
    expect(cState("c1").state).toBe("paused");

    await api.resumeSandbox(env.ctx, "sb");
    expect(sbState().state).toBe("running");
    expect(cState("c1").state).toBe("running");

    const vmPid = sbState().vmPid as number;
    const stopped = await api.stopSandbox(env.ctx, "sb");
    expect(stopped.state).toBe("stopped");
    expect(sbState().state).toBe("stopped");
    expect(cState("c1")).toMatchObject({ state: "stopped", exitCode: 137 });
    expect(isProcessAlive(vmPid)).toBe(false);

    // A stopped sandbox starts again: new VM, containers relaunched.
    const again = await api.startSandbox(env.ctx, "sb");
    expect(again.state).toBe("running");
    expect(again.containers[0]?.state).toBe("running");
    expect(sbState().vmPid).not.toBe(vmPid);

    await api.deleteSandbox(env.ctx, "sb", { force: true });
    expect(existsSync(sbDir())).toBe(false);
    expect(existsSync(join(env.root, "containers", "c1"))).toBe(false);
    expect(mountsUnder(env.dir)).toEqual([]);
    expect(await api.listSandbox(env.ctx)).toEqual([]);
  });

  test("fetchSandbox returns what is stored", async () => {
    await api.createSandbox(env.ctx, { id: "sb", containers: [containerConfig("c1", env.bundle("b"))] });
    const snap = await api.fetchSandbox(env.ctx, "sb");
    expect(snap.record.id).toBe("sb");
    expect(snap.current.state).toBe("ready");
    expect(snap.containers[0]?.record.bundle).toBe(join(env.dir, "b"));
  });

  test("deleteSandbox stops the VM, removes mounts, files, ids; runs poststop hooks", async () => {
    const calls: string[] = [];
    await env.cleanup();
    env = makeEnv({
      lifecycle: {
        async sandboxPrestart(c) {
          calls.push(`sandbox:prestart ${c.sandboxId}`);
        },
        async containerCreate(c) {
          calls.push(`container:create ${c.containerId} ${c.state.status} ${c.spec.root?.path}`);
          return { ...c.spec, hostname: "amended" };
        },
        async containerCreated(c) {
          calls.push(`container:created ${c.containerId} ${c.state.status} pid=${c.state.pid ? "yes" : "no"}`);
        },
        async containerStart(c) {
          calls.push(`container:start ${c.containerId} ${c.state.status}`);
        },
        async containerPoststart(c) {
          calls.push(`container:poststart ${c.containerId} ${c.state.status}`);
        },
        async containerPoststop(c) {
          calls.push(`container:poststop ${c.containerId} ${c.state.status}`);
        },
        async sandboxPoststop(c) {
          // Plugins release what they recorded in the sandbox dir: it is still there.
          calls.push(`sandbox:poststop ${c.sandboxId}${existsSync(c.sandboxDir) ? "" : " (dir gone)"}`);
        },
      },
    });
    await api.createSandbox(env.ctx, { id: "sb", containers: [containerConfig("c1", env.bundle("b"))] });
    await api.startContainer(env.ctx, "sb", "c1");
    const vmPid = sbState().vmPid as number;
    await env.ctx.agents.at(-1)?.guest(); // guest reachable
    await api.stopContainer(env.ctx, "sb", "c1");
    await api.deleteSandbox(env.ctx, "sb");
    expect(calls).toEqual([
      "sandbox:prestart sb",
      "container:create c1 creating /run/husk/shared/c1/rootfs",
      "container:created c1 created pid=yes",
      "container:start c1 created",
      "container:poststart c1 running",
      "container:poststop c1 stopped",
      "sandbox:poststop sb",
    ]);
    expect(isProcessAlive(vmPid)).toBe(false);
    expect(existsSync(sbDir())).toBe(false);
    expect(mountsUnder(env.dir)).toEqual([]);
  });

  test("listSandbox lists every sandbox sorted, with states", async () => {
    expect(await api.listSandbox(env.ctx)).toEqual([]);
    await api.createSandbox(env.ctx, { id: "zeta", containers: [] });
    await api.runSandbox(env.ctx, { id: "alpha", containers: [containerConfig("a1", env.bundle("ba"))] });
    const list = await api.listSandbox(env.ctx);
    expect(list.map((s) => [s.id, s.state])).toEqual([
      ["alpha", "running"],
      ["zeta", "ready"],
    ]);
    await api.deleteSandbox(env.ctx, "alpha", { force: true });
    await api.deleteSandbox(env.ctx, "zeta");
  });
});
