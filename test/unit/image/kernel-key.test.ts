import { describe, expect, test } from "bun:test";
import { sha256Text } from "../../../src/image/hash.ts";
import { kernelCacheLayout } from "../../../src/image/kernel-paths.ts";
import { kernelCacheKey } from "../../../src/image/kernel.ts";

describe("kernel cache key", () => {
  test("changes with the fragment and with the source package version, nothing else", () => {
    const k = kernelCacheKey("CONFIG_A=y\n", "6.1.192-3");
    expect(k).toMatch(/^[0-9a-f]{64}$/);
    expect(kernelCacheKey("CONFIG_A=y\n", "6.1.192-3")).toBe(k);
    expect(kernelCacheKey("CONFIG_A=y\nCONFIG_B=y\n", "6.1.192-3")).not.toBe(k);
    expect(kernelCacheKey("CONFIG_A=y\n", "6.1.193-1")).not.toBe(k);
  });

  test("layout: result per key, one shared source tree and object dir", () => {
    const l = kernelCacheLayout("/c", "abc");
    expect(l).toEqual({
      srcDir: "/c/src/linux-source-6.1",
      srcMarker: "/c/src/.extracted",
      objDir: "/c/build",
      resultDir: "/c/abc",
    });
  });

  test("sha256Text keeps part boundaries", () => {
    expect(sha256Text("ab", "c")).not.toBe(sha256Text("a", "bc"));
  });
});
