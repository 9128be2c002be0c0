import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { canRun, ensureTemplate, HUSK, husk, makeBundle, makeEnv, processesOf, waitFor, type E2eEnv } from "./env.ts";

/**
 * kill -9 at awkward moments, on real VMs: `husk create` killed at each
 * stage of its run, and QEMU, the monitor or a shim killed while a
 * container runs. Each time the caller's `delete --force ID` must leave
 * nothing: no process, mount, sandbox directory or container record.
 */

let env: E2eEnv;
let bundle: string;
const T = 300_000;

async function expectNothingLeft(id: string): Promise<void> {
  const del = await husk(env, ["delete", "--force", id]);
  expect(del.code).toBe(0);
  await waitFor(() => processesOf(env.root).length === 0 || undefined, 20_000, "the sandbox's processes to go");
  expect(existsSync(join(env.root, "sandboxes", id))).toBe(false);
  expect(existsSync(join(env.root, "containers", id))).toBe(false);
  expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(env.root);
  expect((await husk(env, ["state", id])).code).not.toBe(0);
}

const sandbox = (id: string) => join(env.root, "sandboxes", id);
const vmState = (id: string) => {
  try {
    return JSON.parse(readFileSync(join(sandbox(id), "vm-state.json"), "utf8")).state as string;
  } catch {
    return undefined;
  }
};
const hasShim = () => processesOf(env.root).some((p) => / shim( |$)/.test(p));

describe.skipIf(!canRun)("kill -9 at awkward moments", () => {
  beforeAll(() => {
    env = makeEnv("faults");
    ensureTemplate(env);
    bundle = makeBundle(env, "b", ["sleep", "1000"]);
  });
  afterAll(async () => {
    await env.cleanup();
  });

  const stages: [string, (id: string) => boolean | undefined][] = [
    ["before boot (the sandbox directory is being made)", (id) => existsSync(sandbox(id)) || undefined],
    ["during boot (the monitor runs, the VM is starting)", (id) => existsSync(join(sandbox(id), "monitor.pid")) || undefined],
    ["after the agent answered", (id) => vmState(id) === "running" || undefined],
    ["while crun creates the container (the shim is up)", () => hasShim() || undefined],
  ];
  for (const [i, [stage, reached]] of stages.entries()) {
    test(`husk create killed ${stage}: delete --force leaves nothing`, { timeout: T }, async () => {
      const id = `k${i}`;
      const create = Bun.spawn([HUSK, ...env.globals, "create", "--bundle", bundle, id], { stdio: ["ignore", "ignore", "ignore"] });
      await waitFor(() => reached(id), 60_000, stage);
      create.kill("SIGKILL");
      await create.exited;
      await expectNothingLeft(id);
    });
  }

  const victims: [string, (id: string) => number][] = [
    ["QEMU", (id) => JSON.parse(readFileSync(join(sandbox(id), "qemu.pid"), "utf8")).pid],
    ["the monitor", (id) => JSON.parse(readFileSync(join(sandbox(id), "monitor.pid"), "utf8")).pid],
    ["the shim", (id) => Number(readFileSync(join(env.dir, `${id}.pid`), "utf8"))],
  ];
  for (const [name, pidOf] of victims) {
    test(`${name} killed while the container runs: state answers, delete --force leaves nothing`, { timeout: T }, async () => {
      const id = `v${name.replace(/\W/g, "")}`;
      expect((await husk(env, ["create", "--bundle", bundle, "--pid-file", join(env.dir, `${id}.pid`), id])).code).toBe(0);
      expect((await husk(env, ["start", id])).code).toBe(0);
      process.kill(pidOf(id), "SIGKILL");
      // The state command answers (stopped, or running while the monitor is gone), never hangs.
      const st = await husk(env, ["state", id], { timeoutMs: 30_000 });
      expect([0, 1]).toContain(st.code);
      await expectNothingLeft(id);
    });
  }
});
