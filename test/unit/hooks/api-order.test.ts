import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import * as api from "../../../src/core/api.ts";
import type { Hook, OciSpec } from "../../../src/oci/spec.ts";
import { createLifecycle } from "../../../src/plugins/lifecycle.ts";
import { containerConfig, makeEnv, minimalSpec, type Env } from "../core/helpers.ts";
import { FAIL, readRecord, RECORD, tempDir } from "./helpers.ts";

/**
 * Hooks through the real core (api.ts) on the mock drivers: the order and
 * stdin across create/start/kill/delete, and abort-and-undo before start.
 */

const rec = (file: string, label: string): Hook => ({ path: RECORD, args: ["record-state", file, label] });
let env: Env | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

async function setup(hooks: OciSpec["hooks"]) {
  const lifecycle = await createLifecycle({ config: { plugins: {} }, bundled: [] });
  env = makeEnv({ lifecycle });
  const spec: OciSpec = { ...minimalSpec(), hooks, annotations: { "test.husk/a": "1" } };
  return { env, spec, bundle: env.bundle("b1", spec) };
}

describe("OCI hooks through the core API", () => {
  test("create/start/kill/delete: order, container id, status and annotations on stdin", async () => {
    const file = join(tempDir(), "rec");
    const phases = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"] as const;
    const { env, spec, bundle } = await setup(Object.fromEntries(phases.map((p) => [p, [rec(file, p)]])));
    await api.createSandbox(env.ctx, { id: "sb", containers: [containerConfig("c1", bundle, spec)] });
    expect((await readRecord(file)).map(([p]) => p)).toEqual(["prestart", "createRuntime", "createContainer"]);
    await api.startContainer(env.ctx, "sb", "c1");
    await api.killContainer(env.ctx, "sb", "c1", 9);
    await api.stopContainer(env.ctx, "sb", "c1");
    await api.deleteContainer(env.ctx, "sb", "c1");
    const got = await readRecord(file);
    expect(got.map(([p, s]) => `${p} ${s.id} ${s.status}`)).toEqual([
      "prestart c1 created",
      "createRuntime c1 created",
      "createContainer c1 created",
      "startContainer c1 created",
      "poststart c1 running",
      "poststop c1 stopped",
    ]);
    for (const [, s] of got) {
      expect(s.ociVersion).toBe("1.0.2");
      expect(s.bundle).toBe(bundle);
      expect(s.annotations).toEqual({ "test.husk/a": "1" });
    }
  });

  test("a failing createRuntime hook aborts create: nothing left, poststop still runs", async () => {
    const file = join(tempDir(), "rec");
    const { env, spec, bundle } = await setup({ createRuntime: [{ path: FAIL, args: ["fail", "3"] }], poststop: [rec(file, "poststop")] });
    await expect(api.createSandbox(env.ctx, { id: "sb", containers: [containerConfig("c1", bundle, spec)] })).rejects.toMatchObject({
      code: "E_HOOK",
    });
    const sandboxes = join(env.root, "sandboxes");
    expect(existsSync(sandboxes) ? readdirSync(sandboxes) : []).toEqual([]);
    expect((await readRecord(file)).map(([p, s]) => `${p} ${s.id}`)).toEqual(["poststop c1"]);
  });

  test("a failing poststart hook is a warning: start succeeds, the container runs", async () => {
    const { env, spec, bundle } = await setup({ poststart: [{ path: FAIL, args: ["fail", "4"] }] });
    await api.createSandbox(env.ctx, { id: "sb", containers: [containerConfig("c1", bundle, spec)] });
    const started = await api.startContainer(env.ctx, "sb", "c1");
    expect(started.state).toBe("running");
  });
});
