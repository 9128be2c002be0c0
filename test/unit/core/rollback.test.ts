import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import * as api from "../../../src/core/api.ts";
import type { TestContextOptions } from "../../support/context.ts";
import { isProcessAlive } from "../../../src/host/proc.ts";
import { mountsUnder } from "../../../src/host/mounts.ts";
import { CleanupError } from "../../../src/host/errors.ts";
import { NOOP_LIFECYCLE } from "../../../src/core/ports.ts";
import { containerConfig, makeEnv, type Env } from "./helpers.ts";

/** A createSandbox that fails at any step leaves nothing behind: no dir, VM, mount or container id. */

let env: Env | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

interface Outcome {
  env: Env;
  error: Error & { code?: string };
  poststops: string[];
}

async function failingCreate(options: Omit<TestContextOptions, "root">, containers = 2): Promise<Outcome> {
  const poststops: string[] = [];
  const e = makeEnv({
    ...options,
    lifecycle: {
      ...(options.lifecycle ?? NOOP_LIFECYCLE),
      async sandboxPoststop(c) {
        poststops.push(c.sandboxId);
      },
    },
  });
  env = e;
  const cs = Array.from({ length: containers }, (_, i) => containerConfig(`c${i}`, e.bundle(`b${i}`)));
  let error: (Error & { code?: string }) | undefined;
  try {
    await api.createSandbox(e.ctx, { id: "sb", containers: cs });
  } catch (err) {
    error = err as Error;
  }
  expect(error).toBeDefined();
  // Nothing left: directory, container ids, mounts, VM process.
  expect(existsSync(join(e.root, "sandboxes", "sb"))).toBe(false);
  expect(existsSync(join(e.root, "containers")) ? readdirSync(join(e.root, "containers")) : []).toEqual([]);
  expect(mountsUnder(e.dir)).toEqual([]);
  for (const hv of e.ctx.hypervisors) {
    if (hv.startedPid !== undefined) {
      expect(isProcessAlive(hv.startedPid)).toBe(false);
      expect(hv.calls.map((c) => c.method)).toContain("cleanup");
    }
  }
  expect(await api.listSandbox(e.ctx)).toEqual([]);
  return { env: e, error: error as Error, poststops };
}

describe("createSandbox rollback", () => {
  test("the hypervisor fails to start", async () => {
    const { error, poststops } = await failingCreate({ hypervisor: { failOn: { start: new Error("qemu exploded") } } });
    expect(error.message).toContain("qemu exploded");
    expect(error.code).toBe("E_HYPERVISOR");
    expect(poststops).toEqual(["sb"]);
  });

  test("the agent never answers: the started VM is stopped and cleaned", async () => {
    const { env: e, error } = await failingCreate({ agent: { failOn: { version: new Error("no agent") } } });
    expect(error.message).toContain("no agent");
    expect(e.ctx.hypervisors[0]?.calls.map((c) => c.method)).toEqual(["prepare", "start", "stop", "cleanup"]);
  });

  test("the second container fails: the first is removed in the guest, unmounted, its id released", async () => {
    const {
      env: e,
      error,
      poststops,
    } = await failingCreate({
      lifecycle: {
        ...NOOP_LIFECYCLE,
        async containerCreate(c) {
          if (c.containerId === "c1") throw new Error("policy refused c1");
          return c.spec;
        },
      },
    });
    expect(error.message).toBe("policy refused c1");
    const calls = e.ctx.agents.flatMap((a) =>
      a.calls.map((c) => `${c.method} ${(c.request as { containerId?: string }).containerId ?? ""}`.trim()),
    );
    expect(calls).toEqual(["version", "createContainer c0", "removeContainer c0", "shutdown"]);
    expect(poststops).toEqual(["sb"]);
  });

  test("the sandbox prestart hook refuses", async () => {
    const {
      env: e,
      error,
      poststops,
    } = await failingCreate({
      lifecycle: {
        ...NOOP_LIFECYCLE,
        async sandboxPrestart() {
          throw new Error("network plugin failed");
        },
      },
    });
    expect(error.message).toBe("network plugin failed");
    expect(e.ctx.hypervisors).toEqual([]); // never booted
    expect(poststops).toEqual(["sb"]);
  });

  test("a container's rootfs is missing", async () => {
    const e = makeEnv();
    env = e;
    await expect(
      api.createSandbox(e.ctx, {
        id: "sb",
        containers: [containerConfig("c0", e.bundle("b0")), containerConfig("c1", join(e.dir, "nowhere"))],
      }),
    ).rejects.toMatchObject({ code: "E_BUNDLE" });
    expect(existsSync(join(e.root, "sandboxes", "sb"))).toBe(false);
    expect(mountsUnder(e.dir)).toEqual([]);
  });

  test("an undo step failing too gives a CleanupError carrying both errors", async () => {
    const { error } = await failingCreate({
      hypervisor: { failOn: { stop: new Error("cannot stop") } },
      agent: { failOn: { createContainer: new Error("guest refused") } },
    });
    expect(error).toBeInstanceOf(CleanupError);
    expect(((error as CleanupError).original as Error).message).toBe("guest refused");
    expect(error.message).toContain("guest refused");
    expect(error.message).toContain("cannot stop");
  });
});
