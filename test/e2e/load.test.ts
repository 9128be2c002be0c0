import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { canRun, ensureTemplate, husk, leftovers, makeBundle, makeEnv, type E2eEnv } from "./env.ts";

/**
 * Load on this 2-core machine, on real VMs: 8 concurrent `husk run`, then
 * 10 concurrent create/start/exec/kill/delete lifecycles in distinct
 * sandboxes while `husk list` is read again and again. Every run succeeds
 * with its own output, `list` always parses, and nothing is left after.
 */

let env: E2eEnv;
const T = 600_000;

describe.skipIf(!canRun)("concurrent sandboxes", () => {
  beforeAll(() => {
    env = makeEnv("load");
    ensureTemplate(env);
  });
  afterAll(async () => {
    await env.cleanup();
  });

  test("8 concurrent husk run", { timeout: T }, async () => {
    const bundle = makeBundle(env, "echo", ["sh", "-c", "echo out-$HOSTNAME"]);
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => husk(env, ["run", "--bundle", bundle, `r${i}`], { timeoutMs: 300_000 })),
    );
    for (const [i, r] of runs.entries()) {
      if (r.code !== 0) console.error(`r${i}: ${r.stderr}`);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("out-");
    }
    expect(leftovers(env)).toEqual([]);
  });

  test("10 concurrent lifecycles with list read throughout", { timeout: T }, async () => {
    const bundle = makeBundle(env, "sleeper", ["sleep", "1000"]);
    let listing = true;
    let lists = 0;
    const lister = (async () => {
      while (listing) {
        const l = await husk(env, ["list", "--format", "json"]);
        expect(l.code).toBe(0);
        const rows = JSON.parse(l.stdout || "null") ?? [];
        expect(Array.isArray(rows)).toBe(true);
        for (const row of rows) expect(["creating", "created", "running", "paused", "stopped"]).toContain(row.status);
        lists++;
        await Bun.sleep(200);
      }
    })();
    const lifecycle = async (id: string) => {
      const steps: [string, string[]][] = [
        ["create", ["create", "--bundle", bundle, id]],
        ["start", ["start", id]],
        ["exec", ["exec", id, "sh", "-c", `echo exec-${id}`]],
        ["kill", ["kill", id, "KILL"]],
        ["delete", ["delete", "--force", id]],
      ];
      for (const [name, args] of steps) {
        const r = await husk(env, args, { timeoutMs: 300_000 });
        if (r.code !== 0) throw new Error(`${id} ${name}: exit ${r.code}: ${r.stderr}`);
        if (name === "exec") expect(r.stdout).toContain(`exec-${id}`);
      }
    };
    await Promise.all(Array.from({ length: 10 }, (_, i) => lifecycle(`l${i}`)));
    listing = false;
    await lister;
    expect(lists).toBeGreaterThan(0);
    expect(leftovers(env)).toEqual([]);
    expect(readdirSync(env.root).filter((n) => n !== "sandboxes" && n !== "containers")).toEqual([]);
  });
});
