import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { HookError, HookTimeoutError, PluginError } from "../../../src/host/errors.ts";
import type { Agent } from "../../../src/agent/types.ts";
import type { Hook, HookPhase, OciSpec } from "../../../src/oci/spec.ts";
import { definePlugin } from "../../../src/plugins/define.ts";
import { createLifecycle } from "../../../src/plugins/lifecycle.ts";
import { baseSpec, containerCtx, createPhases, fixture, tempDir } from "./helpers.ts";

const HOOKS = resolve(import.meta.dir, "../../../hooks");
const record = (file: string, label: string): Hook => ({ path: join(HOOKS, "record-state"), args: ["record-state", file, label] });
const fail = (code: number): Hook => ({ path: join(HOOKS, "fail"), args: ["fail", String(code)] });

function lines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
}

async function lifecycleWith(file: string, extra: string[] = [], options: Record<string, unknown> = {}) {
  return createLifecycle({
    config: { plugins: { record: { enabled: true, path: fixture("record.ts"), options: { file, ...options } } } },
    extraPluginPaths: extra,
    bundled: [],
  });
}

describe("createLifecycle: OCI hooks and plugins at the right points", () => {
  test("order across create/start/poststart/poststop, container id and status on stdin", async () => {
    const file = join(tempDir(), "order");
    const phases: HookPhase[] = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];
    const spec = baseSpec({ hooks: Object.fromEntries(phases.map((p) => [p, [record(file, p)]])) });
    const ctx = containerCtx(spec, "ctr-7");
    const lc = await lifecycleWith(file);
    await lc.sandboxPrestart({ sandboxId: "s1", sandboxDir: ctx.sandboxDir, spec });
    const created = await createPhases(lc, ctx);
    await lc.containerStart({ ...ctx, spec: created });
    await lc.containerPoststart({ ...ctx, spec: created, state: { ...ctx.state, status: "running", pid: 99 } });
    await lc.containerPoststop({ ...ctx, spec: created, state: { ...ctx.state, status: "stopped" } });
    await lc.sandboxPoststop({ sandboxId: "s1", sandboxDir: ctx.sandboxDir });
    const got = lines(file);
    // Plugin lines are "<hook> <id>"; OCI hook lines "<phase> <state JSON>": show the id and status.
    const summary = got.map((l) => {
      const [label, rest] = [l.slice(0, l.indexOf(" ") >>> 0), l.slice(l.indexOf(" ") + 1)];
      if (!rest.startsWith("{")) return l;
      const s = JSON.parse(rest);
      return `${label} ${s.id} ${s.status}`;
    });
    expect(summary).toEqual([
      "setup",
      "sandbox:prestart s1",
      "container:prestart ctr-7",
      "prestart ctr-7 created",
      "createRuntime ctr-7 created",
      "createContainer ctr-7 created",
      "startContainer ctr-7 created",
      "poststart ctr-7 running",
      "container:poststart ctr-7 running",
      "poststop ctr-7 stopped",
      "container:poststop ctr-7",
      "sandbox:poststop s1",
    ]);
    // Full state JSON of one line.
    const poststart = JSON.parse(got.find((l) => l.startsWith("poststart "))!.slice("poststart ".length));
    expect(poststart).toEqual({ ociVersion: "1.0.2", id: "ctr-7", status: "running", pid: 99, bundle: ctx.bundle, annotations: {} });
  });

  for (const phase of ["prestart", "createRuntime", "createContainer"] as const) {
    test(`a failing ${phase} hook aborts create with E_HOOK and undoes plugin work`, async () => {
      const file = join(tempDir(), "rec");
      const ctx = containerCtx(baseSpec({ hooks: { [phase]: [fail(5), record(file, "never")] } }));
      const lc = await lifecycleWith(file);
      const err = await createPhases(lc, ctx).catch((e) => e);
      expect(err).toBeInstanceOf(HookError);
      expect(err.message).toContain(`${phase} hook 0`);
      expect(err.message).toContain("exited with 5");
      expect(lines(file)).not.toContain("never");
    });
  }

  test("a failing startContainer hook aborts start", async () => {
    const ctx = containerCtx(baseSpec({ hooks: { startContainer: [fail(9)] } }));
    const lc = await lifecycleWith(join(tempDir(), "rec"));
    const err = await lc.containerStart(ctx).catch((e) => e);
    expect(err).toBeInstanceOf(HookError);
    expect(err.details).toMatchObject({ phase: "startContainer", exitCode: 9 });
  });

  for (const phase of ["poststart", "poststop"] as const) {
    test(`a failing ${phase} hook only warns; the remaining hooks and plugins still run`, async () => {
      const file = join(tempDir(), "rec");
      const ctx = containerCtx(baseSpec({ hooks: { [phase]: [fail(4), record(file, "after-fail")] } }));
      const lc = await lifecycleWith(file);
      const call = phase === "poststart" ? lc.containerPoststart(ctx) : lc.containerPoststop(ctx);
      await expect(call).resolves.toBeUndefined();
      const got = lines(file).map((l) => l.split(" ")[0]);
      expect(got).toContain("after-fail");
      expect(got).toContain(`container:${phase}`);
    });
  }

  test("a hook timeout at create is E_HOOK_TIMEOUT", async () => {
    const ctx = containerCtx(baseSpec({ hooks: { createRuntime: [{ path: join(HOOKS, "sleep"), args: ["sleep", "20"], timeout: 1 }] } }));
    const lc = await lifecycleWith(join(tempDir(), "rec"));
    const err = await createPhases(lc, ctx).catch((e) => e);
    expect(err).toBeInstanceOf(HookTimeoutError);
    expect(err.message).toContain(join(HOOKS, "sleep"));
  });

  test("a plugin whose prestart throws aborts create with a PluginError naming it; its poststart only warns", async () => {
    const file = join(tempDir(), "rec");
    const ctx = containerCtx(baseSpec({ hooks: { createContainer: [record(file, "createContainer")] } }));
    const lc = await lifecycleWith(file, [fixture("throw-prestart.ts")]);
    const err = await createPhases(lc, ctx).catch((e) => e);
    expect(err).toBeInstanceOf(PluginError);
    expect(err.message).toContain('plugin "throw-prestart"');
    expect(err.message).toContain("prestart exploded");
    expect(lines(file)).not.toContain("createContainer");
    await expect(lc.containerPoststart(ctx)).resolves.toBeUndefined();
  });

  test("a plugin hook past its timeout aborts with a PluginError", async () => {
    const lc = await createLifecycle({ config: { plugins: {} }, extraPluginPaths: [fixture("slow.ts")], bundled: [] });
    const t0 = performance.now();
    const err = await lc.containerCreate(containerCtx()).catch((e) => e);
    expect(err).toBeInstanceOf(PluginError);
    expect(err.message).toContain("timed out after 200 ms");
    expect(performance.now() - t0).toBeLessThan(2_000);
  });

  test("amend() changes the returned spec; an invalid amendment is refused naming the field", async () => {
    const file = join(tempDir(), "rec");
    const lc = await lifecycleWith(file, [fixture("api-import.ts")], { hostname: "amended" });
    const spec = await lc.containerCreate(containerCtx());
    expect(spec.hostname).toBe("amended");
    expect(spec.annotations?.["test.husk/greeting"]).toBe("hello");

    const bad = await createLifecycle({ config: { plugins: {} }, extraPluginPaths: [fixture("bad-amend.ts")], bundled: [] });
    const err = await bad.containerCreate(containerCtx()).catch((e) => e);
    expect(err).toBeInstanceOf(PluginError);
    expect(err.message).toContain('plugin "bad-amend"');
    expect(err.message).toContain('"ociVersion"');
  });

  test("the spec is deep-frozen for plugins; the caller's spec is never mutated", async () => {
    const seen: string[] = [];
    const mutator = definePlugin({
      name: "mutator",
      hooks: {
        "container:prestart": (ctx) => {
          try {
            (ctx.spec.process!.args as string[]).push("evil");
          } catch (e) {
            seen.push((e as Error).constructor.name);
          }
        },
      },
    });
    const lc = await createLifecycle({ config: { plugins: {} }, bundled: [mutator] });
    const ctx = containerCtx();
    const spec = await lc.containerCreate(ctx);
    expect(seen).toEqual(["TypeError"]);
    expect(spec.process?.args).toEqual(["sh"]);
    expect(ctx.spec.process?.args).toEqual(["sh"]);
  });

  test("plugins get only the agent calls their phase allows", async () => {
    const calls: string[] = [];
    const agent = {
      call: async (m: string) => {
        calls.push(m);
        return {};
      },
    } as unknown as Agent;
    const results: string[] = [];
    const probe = definePlugin({
      name: "probe",
      hooks: {
        "container:poststart": async (ctx) => {
          await ctx.agent!.call("guestDetails", {});
          // A lifecycle call is refused even if a plugin forces the type.
          await (ctx.agent!.call as (m: string, r: unknown) => Promise<unknown>)("shutdown", {}).catch((e) => results.push(e.message));
        },
      },
    });
    const lc = await createLifecycle({ config: { plugins: {} }, bundled: [probe] });
    await lc.containerPoststart({ ...containerCtx(), agent });
    expect(calls).toEqual(["guestDetails"]);
    expect(results[0]).toContain('agent method "shutdown" is not allowed');
  });

  test("a disabled plugin runs no hooks", async () => {
    const file = join(tempDir(), "rec");
    const lc = await createLifecycle({
      config: { plugins: { record: { enabled: false, path: fixture("record.ts"), options: { file } } } },
      bundled: [],
    });
    await createPhases(lc, containerCtx());
    expect(lines(file)).toEqual([]);
  });
});

// Referenced so the type import is checked against the spec shape the fixtures use.
export type _Spec = OciSpec;
