import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import * as api from "../../../src/core/api.ts";
import { createTestContext } from "../../support/context.ts";
import { mountsUnder } from "../../../src/host/mounts.ts";
import { FIXTURES, containerConfig, makeBundle, killPlaceholders, rejectsWith, tempDir } from "./helpers.ts";
import { removeTree } from "../../../src/host/mounts.ts";

/**
 * The API from separate processes on one root, as the CLI uses it: each
 * call is its own `bun` process; the mock VM and guest persist in the
 * sandbox dir. Plus 50 concurrent create/delete processes.
 */

let dir: string;
let root: string;
beforeAll(() => {
  dir = tempDir("husk-xproc-");
  root = join(dir, "root");
});
afterAll(async () => {
  killPlaceholders(root);
  await removeTree(dir);
});

async function call(fn: string, ...args: unknown[]): Promise<{ ok?: any; error?: string; message?: string }> {
  const p = Bun.spawn([process.execPath, join(FIXTURES, "api-call.ts"), root, fn, JSON.stringify(args)], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const out = await new Response(p.stdout).text();
  await p.exited;
  return JSON.parse(out.trim().split("\n").at(-1) as string);
}

describe("across processes", () => {
  test("create, start, exec, ps, stop, delete each in its own process", async () => {
    const bundle = makeBundle(dir, "bx");
    const io = { terminal: false, detach: true };
    expect((await call("createSandbox", { id: "sb", containers: [{ id: "c1", bundle, io }] })).ok.state).toBe("ready");
    expect((await call("startContainer", "sb", "c1")).ok.state).toBe("running");
    const exec = await call("enterContainer", "sb", "c1", {
      process: { user: { uid: 0, gid: 0 }, args: ["top"], cwd: "/" },
      io,
      execId: "e1",
    });
    expect(exec.ok.execId).toBe("e1");
    const ps = await call("processListContainer", "sb", "c1");
    expect(ps.ok.map((p: { command: string }) => p.command)).toEqual(["/bin/sh", "top"]);
    // This process sees the same state (the stand-in shim outlived the process that launched it).
    const here = createTestContext({ root });
    expect((await api.statusContainer(here, "sb", "c1")).state).toBe("running");
    expect((await call("stopContainer", "sb", "c1")).ok.state).toBe("stopped");
    // The exec's stand-in shim is ours to end (a real one exits with its process).
    process.kill(exec.ok.pid, "SIGKILL");
    expect(await call("deleteSandbox", "sb")).toEqual({ ok: null });
    expect(existsSync(join(root, "sandboxes", "sb"))).toBe(false);
    expect(mountsUnder(dir)).toEqual([]);
  }, 30_000);

  test("an api call waits for the lock another process holds (E_LOCKED with a timeout)", async () => {
    const ctx = createTestContext({ root, lockTimeoutMs: 100 });
    await api.createSandbox(ctx, { id: "held", containers: [containerConfig("h1", makeBundle(dir, "bh"))] });
    const holder = Bun.spawn(
      [process.execPath, join(FIXTURES, "lock-holder.ts"), root, "held", "exclusive", "60000", join(dir, "held.log")],
      {
        stdout: "pipe",
      },
    );
    const reader = holder.stdout.getReader();
    await reader.read(); // "locked"
    await rejectsWith(api.statusSandbox(ctx, "held"), "E_LOCKED");
    await rejectsWith(api.startContainer(ctx, "held", "h1"), "E_LOCKED");
    holder.kill("SIGKILL");
    await holder.exited;
    expect((await api.startContainer(ctx, "held", "h1")).state).toBe("running");
    await api.deleteSandbox(ctx, "held", { force: true });
  }, 30_000);

  test("50 concurrent createSandbox/deleteSandbox processes on distinct ids: all succeed, list is exact", async () => {
    const bundle = makeBundle(dir, "bc");
    const N = 50;
    const procs = Array.from({ length: N }, (_, i) =>
      Bun.spawn([process.execPath, join(FIXTURES, "sandbox-worker.ts"), root, `s${i}`, bundle, i % 2 ? "delete" : "keep"], {
        stdout: "pipe",
        stderr: "inherit",
      }),
    );
    const outputs = await Promise.all(procs.map(async (p) => (await new Response(p.stdout).text()).trim()));
    expect(outputs).toEqual(Array(N).fill("ok"));
    const ctx = createTestContext({ root });
    const expected = Array.from({ length: N }, (_, i) => i)
      .filter((i) => i % 2 === 0)
      .map((i) => `s${i}`)
      .sort();
    const list = await api.listSandbox(ctx);
    expect(list.map((s) => s.id)).toEqual(expected);
    expect(list.every((s) => s.state === "ready" && s.containers.length === 1 && s.containers[0]?.state === "ready")).toBe(true);
    expect(readdirSync(join(root, "containers")).sort()).toEqual(expected.map((s) => `${s}-c`).sort());
    for (const s of list) await api.deleteSandbox(ctx, s.id);
    expect(await api.listSandbox(ctx)).toEqual([]);
    expect(readdirSync(join(root, "containers"))).toEqual([]);
    expect(mountsUnder(dir)).toEqual([]);
  }, 60_000);
});
