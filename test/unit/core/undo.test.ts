import { describe, expect, test } from "bun:test";
import { CleanupError } from "../../../src/host/errors.ts";
import { withUndo } from "../../../src/core/undo.ts";

describe("withUndo", () => {
  test("success keeps the effects: no undo runs", async () => {
    const log: string[] = [];
    const r = await withUndo(async (u) => {
      u.push("a", () => void log.push("undo a"));
      return 42;
    });
    expect(r).toBe(42);
    expect(log).toEqual([]);
  });

  test("failure undoes in reverse and rethrows the original", async () => {
    const log: string[] = [];
    const boom = new Error("boom");
    await expect(
      withUndo(async (u) => {
        u.push("a", () => void log.push("undo a"));
        u.push("b", async () => void log.push("undo b"));
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(log).toEqual(["undo b", "undo a"]);
  });

  test("a failing undo step: the rest still run, both errors kept", async () => {
    const log: string[] = [];
    let caught: unknown;
    try {
      await withUndo(async (u) => {
        u.push("a", () => void log.push("undo a"));
        u.push("b", () => {
          throw new Error("undo b failed");
        });
        throw new Error("original");
      });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(CleanupError);
    expect(((caught as CleanupError).original as Error).message).toBe("original");
    expect(((caught as CleanupError).cleanup[0] as Error).message).toBe("undo b failed");
    expect(log).toEqual(["undo a"]);
  });
});
