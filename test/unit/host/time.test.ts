import { afterEach, describe, expect, spyOn, test } from "bun:test";
import { pollUntil, settledWithin, withTimeout } from "../../../src/host/time.ts";

/** The deadline primitives: what they resolve to, that their timer is always cleared, that nothing escapes unhandled. */

const never = () => new Promise<never>(() => {});

/** Record the timers set and cleared while `run` runs. */
async function timers<T>(run: () => Promise<T>): Promise<{ result: T; set: unknown[]; cleared: unknown[] }> {
  const set: unknown[] = [];
  const cleared: unknown[] = [];
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  const setSpy = spyOn(globalThis, "setTimeout").mockImplementation(((fn: () => void, ms?: number) => {
    const t = realSet(fn, ms);
    set.push(t);
    return t;
  }) as typeof setTimeout);
  const clearSpy = spyOn(globalThis, "clearTimeout").mockImplementation(((t?: Parameters<typeof clearTimeout>[0]) => {
    cleared.push(t);
    realClear(t);
  }) as typeof clearTimeout);
  try {
    return { result: await run(), set, cleared };
  } finally {
    setSpy.mockRestore();
    clearSpy.mockRestore();
  }
}

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
process.on("unhandledRejection", onUnhandled);
afterEach(() => {
  expect(unhandled).toEqual([]);
});

describe("settledWithin", () => {
  test("true when the promise resolves in time, and its timer is cleared", async () => {
    const { result, set, cleared } = await timers(() => settledWithin(Bun.sleep(5), 5000));
    expect(result).toBe(true);
    expect(set).toHaveLength(1);
    expect(cleared).toContain(set[0]);
  });

  test("true when the promise rejects in time: no error, timer cleared", async () => {
    const { result, set, cleared } = await timers(() => settledWithin(Promise.reject(new Error("boom")), 5000));
    expect(result).toBe(true);
    expect(cleared).toContain(set[0]);
  });

  test("true for an already settled promise even with no time at all", async () => {
    expect(await settledWithin(Promise.resolve(1), 0)).toBe(true);
  });

  test("false when the time runs out first, after about ms", async () => {
    const started = performance.now();
    expect(await settledWithin(never(), 30)).toBe(false);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
  });

  test("a rejection after the time ran out is not unhandled", async () => {
    const late = Bun.sleep(20).then(() => {
      throw new Error("late");
    });
    expect(await settledWithin(late, 1)).toBe(false);
    await Bun.sleep(40);
    await Bun.sleep(0);
  });
});

describe("withTimeout", () => {
  test("the promise's value, onTimeout never called, timer cleared", async () => {
    let calls = 0;
    const { result, set, cleared } = await timers(() =>
      withTimeout(Promise.resolve("v"), 5000, () => {
        calls++;
        return new Error("late");
      }),
    );
    expect(result).toBe("v");
    expect(calls).toBe(0);
    expect(cleared).toContain(set[0]);
  });

  test("the promise's own rejection passes through", async () => {
    await expect(withTimeout(Promise.reject(new Error("own")), 5000, () => new Error("timeout"))).rejects.toThrow("own");
  });

  test("the error onTimeout makes, its side effect run once, when the time runs out", async () => {
    let calls = 0;
    const p = withTimeout(never(), 10, () => {
      calls++;
      return new Error("timed out");
    });
    await expect(p).rejects.toThrow("timed out");
    expect(calls).toBe(1);
  });
});

describe("pollUntil", () => {
  test("true as soon as the check holds", async () => {
    let n = 0;
    expect(await pollUntil(() => ++n >= 3, { timeoutMs: 5000, intervalMs: 1 })).toBe(true);
    expect(n).toBe(3);
  });

  test("false once the time is up, having checked at least once", async () => {
    let n = 0;
    expect(
      await pollUntil(
        async () => {
          n++;
          return false;
        },
        { timeoutMs: 20, intervalMs: 5 },
      ),
    ).toBe(false);
    expect(n).toBeGreaterThanOrEqual(1);
  });
});
