import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { canRun, husk, leftovers, makeBundle, makeEnv, type E2eEnv } from "./env.ts";

/**
 * Pods: the CRI annotations put a container into its sandbox's VM; delete
 * of the last container takes the VM with it.
 */

let env: E2eEnv;

describe.skipIf(!canRun)("pods share one VM", () => {
  beforeAll(() => {
    env = makeEnv("pod");
  });
  afterAll(async () => {
    await env.cleanup();
  });

  test("sandbox container + a CRI container in one VM", { timeout: 300_000 }, async () => {
    const cri = (type: string) => ({ "io.kubernetes.cri.container-type": type, "io.kubernetes.cri.sandbox-id": "pod1" });
    const pause = makeBundle(env, "pause", ["sleep", "1000"], { annotations: cri("sandbox") });
    const app = makeBundle(env, "app", ["sh", "-c", "echo app-ran; sleep 1000"], { annotations: cri("container") });
    expect((await husk(env, ["run", "-d", "--bundle", pause, "pod1"])).code).toBe(0);
    const r = await husk(env, ["run", "-d", "--bundle", app, "app1"]);
    expect(r.code).toBe(0);
    const ex = await husk(env, ["exec", "app1", "echo", "in-app"]);
    expect(ex.stdout).toBe("in-app\n");
    expect(readdirSync(join(env.root, "sandboxes"))).toEqual(["pod1"]);
    const ids = JSON.parse((await husk(env, ["list", "--format", "json"])).stdout).map((s: { id: string }) => s.id);
    expect(ids.sort()).toEqual(["app1", "pod1"]);

    expect((await husk(env, ["delete", "--force", "app1"])).code).toBe(0);
    expect(readdirSync(join(env.root, "sandboxes"))).toEqual(["pod1"]);
    expect(JSON.parse((await husk(env, ["state", "pod1"])).stdout).status).toBe("running");
    expect((await husk(env, ["delete", "--force", "pod1"])).code).toBe(0);
    expect(leftovers(env)).toEqual([]);
  });
});
