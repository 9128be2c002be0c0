import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import * as api from "../../../src/core/api.ts";
import { loadSandbox, type LoadedSandbox } from "../../../src/core/loaded.ts";
import { containerConfigFile, sandboxConfigFile, sandboxStateFile } from "../../../src/host/layout.ts";
import { containerConfig, makeEnv, readJsonFile, rejectsWith, type Env } from "./helpers.ts";

/**
 * Status and list read a sandbox with its specs (the containers' OCI specs,
 * the sandbox's VM) checked at first use: they read none. Every other field
 * is checked at once, and a bad spec is the same E_INTERNAL, naming the same
 * file and key, as when everything is checked at once.
 */

let env: Env;
beforeEach(async () => {
  env = makeEnv();
  await api.createSandbox(env.ctx, {
    id: "sb",
    containers: [containerConfig("c1", env.bundle("b1")), containerConfig("c2", env.bundle("b2"))],
  });
});
afterEach(() => env.cleanup());

/** The error loading throws, eagerly or at the first read of what `use` reads. */
function errorOf(deferSpecs: boolean, use: (sb: LoadedSandbox) => unknown): Error & { code: string } {
  try {
    use(loadSandbox(env.root, "sb", deferSpecs));
  } catch (e) {
    return e as Error & { code: string };
  }
  throw new Error("no error");
}

function patch(path: string, fn: (json: any) => void): void {
  const json = readJsonFile(path);
  fn(json);
  writeFileSync(path, JSON.stringify(json));
}

describe("deferred spec checks", () => {
  test("a deferred load equals an eager one: values, key order, JSON", () => {
    const eager = loadSandbox(env.root, "sb");
    const deferred = loadSandbox(env.root, "sb", true);
    expect(JSON.stringify(deferred)).toBe(JSON.stringify(eager));
    expect(deferred).toEqual(eager);
    expect(Object.keys(deferred.containers[0]!.record)).toEqual(Object.keys(eager.containers[0]!.record));
    expect("guestSpec" in deferred.containers[0]!.record).toBe("guestSpec" in eager.containers[0]!.record);
  });

  test("a deferred spec is checked once and may be replaced", () => {
    const sb = loadSandbox(env.root, "sb", true);
    const c = sb.containers[0]!;
    expect(c.record.spec).toBe(c.record.spec);
    const replaced = { ...c.record.spec, hostname: "x" };
    c.record.guestSpec = replaced;
    expect(c.record.guestSpec).toBe(replaced);
    const other = sb.containers[1]!;
    other.record.spec = replaced;
    expect(other.record.spec).toBe(replaced);
  });

  test("status and list do not read a bad OCI spec; operations that need it fail as before, naming file and key", async () => {
    const file = containerConfigFile(env.root, "sb", "c2");
    patch(file, (j) => (j.spec.process.args = [1]));
    expect((await api.statusSandbox(env.ctx, "sb")).containers.map((c) => c.id)).toEqual(["c1", "c2"]);
    expect((await api.statusContainer(env.ctx, "sb", "c2")).id).toBe("c2");
    expect((await api.listSandbox(env.ctx)).length).toBe(1);
    const eager = errorOf(false, () => {});
    expect(eager.code).toBe("E_INTERNAL");
    expect(eager.message).toStartWith(`corrupt file ${file}: spec.process.args[0]: `);
    const deferred = errorOf(true, (sb) => sb.containers[1]!.record.guestSpec ?? sb.containers[1]!.record.spec);
    expect([deferred.code, deferred.message, (deferred as any).details]).toEqual([eager.code, eager.message, (eager as any).details]);
    expect((await rejectsWith(api.fetchSandbox(env.ctx, "sb"), "E_INTERNAL")).message).toBe(eager.message);
    expect((await rejectsWith(api.startContainer(env.ctx, "sb", "c1"), "E_INTERNAL")).message).toBe(eager.message);
  });

  test("a repair checks every spec first, as before", async () => {
    const file = containerConfigFile(env.root, "sb", "c2");
    patch(file, (j) => (j.spec.process.args = [1]));
    // The VM owner is gone: status repairs (stops) the sandbox, under the exclusive lock.
    patch(sandboxStateFile(env.root, "sb"), (j) => {
      j.vmPid = 2 ** 22 + 1;
      j.vmPidStart = 1;
    });
    const err = await rejectsWith(api.statusSandbox(env.ctx, "sb"), "E_INTERNAL");
    expect(err.message).toBe(errorOf(false, () => {}).message);
    expect(readJsonFile(sandboxStateFile(env.root, "sb")).state).not.toBe("stopped");
  });

  test("with several faults the deferred error is the eager one (the whole record reports it)", () => {
    const file = containerConfigFile(env.root, "sb", "c1");
    patch(file, (j) => {
      j.spec.process.cwd = 7;
      j.extra = true;
    });
    const eager = errorOf(false, () => {});
    expect(eager.message).toStartWith(`corrupt file ${file}: spec.process.cwd: `);
    expect(errorOf(true, () => {}).message).toBe(eager.message);
  });

  test("every other field is still checked at load", async () => {
    const file = containerConfigFile(env.root, "sb", "c1");
    patch(file, (j) => (j.bundle = 5));
    const err = await rejectsWith(api.statusSandbox(env.ctx, "sb"), "E_INTERNAL");
    expect(err.message).toStartWith(`corrupt file ${file}: bundle: `);
    expect(err.message).toBe(errorOf(false, () => {}).message);
    patch(file, (j) => {
      j.bundle = "/b";
      delete j.spec;
    });
    expect((await rejectsWith(api.statusSandbox(env.ctx, "sb"), "E_INTERNAL")).message).toBe(errorOf(false, () => {}).message);
  });

  test("the sandbox's VM spec: not read by status, checked by what connects", async () => {
    const file = sandboxConfigFile(env.root, "sb");
    patch(file, (j) => (j.vm.memoryMiB = "lots"));
    expect((await api.statusSandbox(env.ctx, "sb")).id).toBe("sb");
    const eager = errorOf(false, () => {});
    expect(eager.message).toStartWith(`corrupt file ${file}: vm.`);
    expect(errorOf(true, (sb) => sb.record.vm).message).toBe(eager.message);
    expect((await rejectsWith(api.startSandbox(env.ctx, "sb"), "E_INTERNAL")).message).toBe(eager.message);
  });
});
