import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { canRun, husk, makeBundle, makeEnv, type E2eEnv } from "./env.ts";

/**
 * OOM in the guest reaches `husk events` as runc prints it: a container with
 * a 40 MiB memory limit whose dd asks for a 64 MiB buffer is OOM-killed in its (guest)
 * cgroup, and the event stream shows {"type":"oom","id":...}.
 */

let env: E2eEnv;

describe.skipIf(!canRun)("OOM events", () => {
  beforeAll(() => {
    env = makeEnv("oom");
  });
  afterAll(async () => {
    await env.cleanup();
  });

  test("an OOM kill in the container is an oom event", { timeout: 300_000 }, async () => {
    const bundle = makeBundle(env, "b1", ["sh", "-c", "sleep 4; dd if=/dev/zero of=/dev/null bs=64M count=1; echo survived"]);
    const file = join(bundle, "config.json");
    const spec = JSON.parse(readFileSync(file, "utf8"));
    spec.linux.resources = { ...spec.linux.resources, memory: { limit: 40 * 1024 * 1024 } };
    writeFileSync(file, JSON.stringify(spec));

    expect((await husk(env, ["create", "--bundle", bundle, "o1"])).code).toBe(0);
    expect((await husk(env, ["start", "o1"])).code).toBe(0);
    const events = await husk(env, ["events", "--interval", "1s", "o1"]);
    expect(events.code).toBe(0);
    const lines = events.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
    expect(lines).toContainEqual({ type: "oom", id: "o1" });
    // The stats lines kept runc's shape meanwhile.
    expect(lines.find((l) => l.type === "stats")?.data.memory.usage.limit).toBe(40 * 1024 * 1024);
    expect((await husk(env, ["delete", "--force", "o1"])).code).toBe(0);
  });
});
