import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { withNewSandboxLock, withSandboxLock } from "../../../src/core/lock.ts";
import { FIXTURES, rejectsWith, tempDir } from "./helpers.ts";

/** Sandbox locks across real processes. */

let root: string;
beforeAll(async () => {
  root = tempDir("husk-lock-");
  await withNewSandboxLock(root, "l", () => {});
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

const BUN = process.execPath;

function holder(mode: "shared" | "exclusive", holdMs: number, log: string) {
  return Bun.spawn([BUN, join(FIXTURES, "lock-holder.ts"), root, "l", mode, String(holdMs), log], { stdout: "pipe", stderr: "inherit" });
}

/** Resolves once the holder printed "locked". */
async function whenLocked(p: ReturnType<typeof holder>): Promise<void> {
  const reader = p.stdout.getReader();
  let text = "";
  while (!text.includes("locked")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("holder exited before locking");
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
}

function intervals(log: string): { pid: string; start: number; end: number }[] {
  const byPid = new Map<string, { pid: string; start: number; end: number }>();
  for (const line of readFileSync(log, "utf8").trim().split("\n")) {
    const [what, pid, t] = line.split(" ") as [string, string, string];
    const e = byPid.get(pid) ?? { pid, start: 0, end: 0 };
    if (what === "start") e.start = Number(t);
    else e.end = Number(t);
    byPid.set(pid, e);
  }
  return [...byPid.values()].sort((a, b) => a.start - b.start);
}

describe("sandbox lock", () => {
  test("two exclusive holders in two processes run one after the other", async () => {
    const log = join(root, "excl.log");
    const a = holder("exclusive", 300, log);
    const b = holder("exclusive", 300, log);
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
    const [first, second] = intervals(log);
    expect(first && second).toBeTruthy();
    expect(second!.start).toBeGreaterThanOrEqual(first!.end);
  });

  test("shared holders run together; an exclusive waiter times out with E_LOCKED", async () => {
    const log = join(root, "shared.log");
    const a = holder("shared", 800, log);
    const b = holder("shared", 800, log);
    await Promise.all([whenLocked(a), whenLocked(b)]);
    await rejectsWith(
      withSandboxLock(root, "l", "exclusive", () => {}, { timeoutMs: 100 }),
      "E_LOCKED",
    );
    // Another reader gets in at once.
    expect(await withSandboxLock(root, "l", "shared", () => "read", { timeoutMs: 100 })).toBe("read");
    await Promise.all([a.exited, b.exited]);
    const [x, y] = intervals(log);
    expect(y!.start).toBeLessThan(x!.end); // overlapped
  });

  test("a holder killed with SIGKILL does not wedge the sandbox", async () => {
    const p = holder("exclusive", 60_000, join(root, "kill.log"));
    await whenLocked(p);
    await rejectsWith(
      withSandboxLock(root, "l", "exclusive", () => {}, { timeoutMs: 50 }),
      "E_LOCKED",
    );
    p.kill("SIGKILL");
    await p.exited;
    expect(await withSandboxLock(root, "l", "exclusive", () => "mine", { timeoutMs: 2000 })).toBe("mine");
  });

  test("released when fn throws", async () => {
    await expect(withSandboxLock(root, "l", "exclusive", () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await withSandboxLock(root, "l", "exclusive", () => 1, { timeoutMs: 0 })).toBe(1);
  });

  test("unknown sandbox → E_NOT_FOUND; invalid id → E_INVALID_ID; existing → E_ALREADY_EXISTS", async () => {
    await rejectsWith(
      withSandboxLock(root, "none", "shared", () => {}),
      "E_NOT_FOUND",
    );
    await rejectsWith(
      withSandboxLock(root, "../x", "shared", () => {}),
      "E_INVALID_ID",
    );
    await rejectsWith(
      withNewSandboxLock(root, "l", () => {}),
      "E_ALREADY_EXISTS",
    );
  });

  test("a waiter whose sandbox is deleted meanwhile gets E_NOT_FOUND", async () => {
    await withNewSandboxLock(root, "gone", () => {});
    let waiting: Promise<unknown> | undefined;
    await withSandboxLock(root, "gone", "exclusive", async () => {
      waiting = withSandboxLock(root, "gone", "shared", () => "should not run");
      await Bun.sleep(30);
      rmSync(join(root, "sandboxes", "gone"), { recursive: true });
    });
    await rejectsWith(waiting as Promise<unknown>, "E_NOT_FOUND");
  });
});
