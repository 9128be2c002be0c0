import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { canRun, HUSK, husk, makeBundle, makeEnv, waitFor, type E2eEnv } from "./env.ts";

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
    const lines = events.stdout
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    expect(lines).toContainEqual({ type: "oom", id: "o1" });
    // The stats lines kept runc's shape meanwhile.
    expect(lines.find((l) => l.type === "stats")?.data.memory.usage.limit).toBe(40 * 1024 * 1024);
    expect((await husk(env, ["delete", "--force", "o1"])).code).toBe(0);
  });

  test("runc's events-oom scenario: the event follows an exec'd memory hog's kill within a second or two", {
    timeout: 300_000,
  }, async () => {
    const bundle = makeBundle(env, "b2", ["sleep", "1000"]);
    const file = join(bundle, "config.json");
    const spec = JSON.parse(readFileSync(file, "utf8"));
    spec.linux.resources = { ...spec.linux.resources, memory: { limit: 32 * 1024 * 1024, swap: 32 * 1024 * 1024 } };
    writeFileSync(file, JSON.stringify(spec));
    expect((await husk(env, ["run", "-d", "--bundle", bundle, "o2"])).code).toBe(0);
    const events = Bun.spawn([HUSK, ...env.globals, "events", "o2"], { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
    const seen: { type: string; at: number }[] = [];
    const reading = (async () => {
      let buf = "";
      for await (const chunk of events.stdout) {
        buf += new TextDecoder().decode(chunk);
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          seen.push({ type: JSON.parse(buf.slice(0, nl)).type, at: performance.now() });
          buf = buf.slice(nl + 1);
        }
      }
    })();
    try {
      await waitFor(() => seen.length > 0 || undefined, 60_000, "the first stats line");
      // A 64 MiB buffer under a 32 MiB limit: killed as soon as dd allocates it.
      expect((await husk(env, ["exec", "-d", "o2", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"])).code).toBe(0);
      const execDone = performance.now();
      const oom = await waitFor(() => seen.find((e) => e.type === "oom"), 30_000, "the oom event");
      // Measured under TCG: 0.2-0.4 s (the agent watches memory.events with inotify); 1.2 s with the 1 s poll alone.
      expect(oom.at - execDone).toBeLessThan(3000);
    } finally {
      events.kill();
      await reading.catch(() => {});
    }
    expect((await husk(env, ["delete", "--force", "o2"])).code).toBe(0);
  });
});
