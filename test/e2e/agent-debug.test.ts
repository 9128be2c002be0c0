import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { canRun, husk, makeBundle, makeEnv, waitFor, type E2eEnv } from "./env.ts";

/** `[agent] debug = true` reaches the guest: the agent logs at debug level to the sandbox's console.log. */

let env: E2eEnv | undefined;
afterAll(async () => {
  await env?.cleanup();
});

describe.skipIf(!canRun)("agent debug logging (real VM)", () => {
  test("the guest agent's debug lines (the crun calls) appear in console.log only when [agent] debug is on", async () => {
    env = makeEnv("agent-debug");
    appendFileSync(env.config, "[agent]\ndebug = true\n");
    const bundle = makeBundle(env, "b", ["sleep", "60"]);
    const r = await husk(env, ["run", "--detach", "--bundle", bundle, "dbg1"]);
    expect(r.code).toBe(0);
    const consoleLog = join(env.root, "sandboxes", "dbg1", "console.log");
    await waitFor(
      () => (readFileSync(consoleLog, "utf8").includes("crun start") ? true : undefined),
      30_000,
      "the agent's debug line for crun start",
    );
    expect(readFileSync(consoleLog, "utf8")).toContain("crun create --bundle");
    expect(readFileSync(join(env.root, "sandboxes", "dbg1", "vm.json"), "utf8")).toContain("husk.debug=1");
    expect((await husk(env, ["delete", "--force", "dbg1"])).code).toBe(0);

    // Off (the default): the same run logs no debug line.
    const quiet = makeEnv("agent-quiet");
    try {
      const q = await husk(quiet, ["run", "--detach", "--bundle", makeBundle(quiet, "b", ["sleep", "60"]), "dbg2"]);
      expect(q.code).toBe(0);
      // The container runs, so the agent has called crun create and start: neither was logged.
      const state = JSON.parse((await husk(quiet, ["state", "dbg2"])).stdout);
      expect(state.status).toBe("running");
      expect(readFileSync(join(quiet.root, "sandboxes", "dbg2", "console.log"), "utf8")).not.toContain("crun");
    } finally {
      await quiet.cleanup();
    }
  });
});
