import { expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { withCacheLock } from "../../../src/image/cache-lock.ts";

test("kernel builds in one cache dir are serialized; the waiter is told", async () => {
  const dir = await mkdtemp(join(tmpdir(), "husk-cache-lock-"));
  try {
    const order: string[] = [];
    let waited = false;
    const slow = withCacheLock(
      dir,
      () => {},
      async () => {
        order.push("a-start");
        await Bun.sleep(1200);
        order.push("a-end");
      },
    );
    await Bun.sleep(50);
    const second = withCacheLock(
      dir,
      () => (waited = true),
      async () => {
        order.push("b");
      },
    );
    await Promise.all([slow, second]);
    expect(order).toEqual(["a-start", "a-end", "b"]);
    expect(waited).toBe(true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
