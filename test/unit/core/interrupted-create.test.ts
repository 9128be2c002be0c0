import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import * as api from "../../../src/core/api.ts";
import { isProcessAlive } from "../../../src/host/proc.ts";
import { readMockVmState } from "../../../src/hypervisor/mock/state.ts";
import { sandboxDir, sandboxStateFile } from "../../../src/host/layout.ts";
import { containerConfig, makeEnv, type Env } from "./helpers.ts";

/**
 * A `husk create` killed with SIGKILL after the VM booted but before the
 * sandbox state recorded its owner: the state knows no VM, yet one runs.
 * delete --force must still find and kill it (from the pid files), and
 * leave nothing behind.
 */

let env: Env;
afterEach(async () => {
  await env.cleanup();
});

describe("interrupted create", () => {
  test("deleteSandbox(force) kills a VM the state never recorded and removes everything", async () => {
    env = makeEnv();
    await api.createSandbox(env.ctx, { id: "sb", containers: [containerConfig("c1", env.bundle("b1"))] });
    const vm = readMockVmState(sandboxDir(env.root, "sb"));
    expect(vm?.pid).toBeDefined();
    expect(isProcessAlive(vm!.pid!, vm!.pidStart)).toBe(true);
    // What the state looks like when create died before its last save: no VM owner, no containers.
    writeFileSync(sandboxStateFile(env.root, "sb"), JSON.stringify({ state: "ready", containers: [] }));

    await api.deleteSandbox(env.ctx, "sb", { force: true });

    expect(isProcessAlive(vm!.pid!, vm!.pidStart)).toBe(false);
    expect(existsSync(sandboxDir(env.root, "sb"))).toBe(false);
    await expect(api.statusSandbox(env.ctx, "sb")).rejects.toMatchObject({ code: "E_NOT_FOUND" });
  });
});
