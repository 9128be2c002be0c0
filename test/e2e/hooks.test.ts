import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { canRun, husk, makeBundle, makeEnv, type E2eEnv } from "./env.ts";

/**
 * OCI hooks through the compiled binary on a real VM: they run on the host at
 * the spec's points with the container's state on stdin, and never reach the
 * guest's crun (whose filesystem has no such paths).
 */

let env: E2eEnv;
const T = 300_000;
const RECORD = join(import.meta.dir, "../../hooks/record-state");

describe.skipIf(!canRun)("OCI hooks on a VM", () => {
  beforeAll(() => {
    env = makeEnv("hooks");
  });
  afterAll(async () => {
    await env.cleanup();
  });

  test("createRuntime, createContainer, startContainer, poststart, poststop in order, with the state", { timeout: T }, async () => {
    const bundle = makeBundle(env, "b1", ["sh", "-c", "echo from-the-container"]);
    const log = join(env.dir, "hooks.log");
    const hook = (phase: string) => ({ path: RECORD, args: ["record-state", log, phase] });
    const specFile = join(bundle, "config.json");
    const spec = JSON.parse(readFileSync(specFile, "utf8"));
    spec.ociVersion = "1.3.0"; // newer than the guest's crun knows: handed to it as 1.1.0
    spec.hooks = {
      prestart: [hook("prestart")],
      createRuntime: [hook("createRuntime")],
      createContainer: [hook("createContainer")],
      startContainer: [hook("startContainer")],
      poststart: [hook("poststart")],
      poststop: [hook("poststop")],
    };
    writeFileSync(specFile, JSON.stringify(spec));

    const run = await husk(env, ["run", "--bundle", bundle, "h1"]);
    expect(run.stderr).not.toContain("error");
    expect(run.stdout).toContain("from-the-container");
    expect(run.code).toBe(0);

    expect(existsSync(log)).toBe(true);
    const lines = readFileSync(log, "utf8").trim().split("\n");
    const phases = lines.map((l) => l.split(" ")[0]);
    expect(phases).toEqual(["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]);
    for (const line of lines) {
      const state = JSON.parse(line.slice(line.indexOf(" ") + 1));
      expect(state.ociVersion).toMatch(/^1\.\d+\.\d+/);
      expect(state.id).toBe("h1");
      expect(state.bundle).toBe(bundle);
    }
    const statusOf = (phase: string) => JSON.parse(lines[phases.indexOf(phase)]!.slice(phase.length + 1)).status;
    expect(statusOf("createRuntime")).toBe("created");
    // The runtime spec: a created container's state carries its pid, create-time hooks included.
    for (const phase of ["prestart", "createRuntime", "createContainer", "startContainer"]) {
      expect(JSON.parse(lines[phases.indexOf(phase)]!.slice(phase.length + 1)).pid).toBeGreaterThan(1);
    }
    expect(statusOf("poststart")).toBe("running");
    expect(statusOf("poststop")).toBe("stopped");
  });
});
