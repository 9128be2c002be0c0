import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readTail, tailLines } from "../../../src/hypervisor/qemu/console.ts";
import { parseStat } from "../../../src/host/proc.ts";

describe("console tail", () => {
  test("last n lines, CRs and control characters removed, trailing blank lines dropped", () => {
    expect(tailLines("a\r\nb\x1b[0m\nc\n\n", 2)).toBe("b[0m\nc");
    expect(tailLines("", 5)).toBe("");
  });
  test("readTail reads only the end of a large file; missing file is empty", () => {
    const dir = mkdtempSync(join(tmpdir(), "husk-tail-"));
    const lines = Array.from({ length: 100_000 }, (_, i) => `line ${i}`).join("\n");
    writeFileSync(join(dir, "c.log"), lines);
    expect(readTail(join(dir, "c.log"), 3)).toBe("line 99997\nline 99998\nline 99999");
    expect(readTail(join(dir, "none.log"))).toBe("");
  });
});

describe("/proc/<pid>/stat start time", () => {
  test("comm with spaces and parens", () => {
    const stat = "123 (qemu (x) y) S 1 123 123 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 3 0 987654 1000 200";
    expect(parseStat(stat)).toEqual({ state: "S", startTime: 987654 });
  });
});
