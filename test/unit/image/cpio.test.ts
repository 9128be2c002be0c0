import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CpioEntry, cpioHeader, encodeCpio, sortEntries } from "../../../src/image/cpio.ts";

const entries: CpioEntry[] = [
  { kind: "file", path: "/bin/hello", mode: 0o755, size: 5 },
  { kind: "dir", path: "bin", mode: 0o755 },
  { kind: "symlink", path: "bin/sh", target: "/bin/busybox" },
  { kind: "char", path: "dev/console", mode: 0o600, major: 5, minor: 1 },
  { kind: "dir", path: "dev", mode: 0o755 },
];
const content = (p: string) => (p === "bin/hello" ? Buffer.from("hello") : new Uint8Array(0));

describe("cpio newc", () => {
  test("header: magic, 13 hex fields, name, 4-byte alignment", () => {
    const h = Buffer.from(cpioHeader({ kind: "file", path: "init", mode: 0o755, size: 10 }, 7)).toString();
    expect(h.startsWith("070701")).toBe(true);
    expect(h.length % 4).toBe(0);
    expect(h.slice(6, 14)).toBe("00000007"); // ino
    expect(h.slice(14, 22)).toBe((0o100755).toString(16).padStart(8, "0")); // regular file, 0755
    expect(h.slice(54, 62)).toBe("0000000a"); // size
    expect(h.slice(110, 115)).toBe("init\0");
  });

  test("entries sorted with parents first; duplicates refused", () => {
    expect(sortEntries(entries).map((e) => e.path)).toEqual(["bin", "bin/hello", "bin/sh", "dev", "dev/console"]);
    expect(() => sortEntries([entries[1]!, { kind: "dir", path: "/bin", mode: 0o700 }])).toThrow(/duplicate/);
  });

  test("reproducible: same entries, same bytes, whatever the input order", () => {
    const a = encodeCpio(entries, content);
    const b = encodeCpio([...entries].reverse(), content);
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0);
    expect(a.length % 4).toBe(0);
  });

  test("a file whose content does not match its size is refused", () => {
    expect(() => encodeCpio([{ kind: "file", path: "x", mode: 0o644, size: 3 }], () => Buffer.from("ab"))).toThrow(/size/);
  });

  const cpio = Bun.which("cpio");
  test.skipIf(!cpio)(`GNU cpio reads it back${cpio ? "" : " (SKIPPED: cpio not installed: apt-get install cpio)"}`, async () => {
    const dir = await mkdtemp(join(tmpdir(), "husk-cpio-"));
    try {
      const archive = join(dir, "a.cpio");
      // no char device: extracting one needs root and is not what this checks
      await writeFile(
        archive,
        encodeCpio(
          entries.filter((e) => e.kind !== "char"),
          content,
        ),
      );
      const list = Bun.spawnSync(["cpio", "-it", "--quiet"], { stdin: Bun.file(archive) }).stdout.toString();
      expect(list.trim().split("\n")).toEqual(["bin", "bin/hello", "bin/sh", "dev"]);
      const out = join(dir, "x");
      Bun.spawnSync(["sh", "-c", `mkdir ${out} && cd ${out} && cpio -idm --quiet < ${archive}`]);
      expect(await readFile(join(out, "bin/hello"), "utf8")).toBe("hello");
      expect(((await stat(join(out, "bin/hello"))).mode & 0o777).toString(8)).toBe("755");
      expect(await readlink(join(out, "bin/sh"))).toBe("/bin/busybox");
      expect(existsSync(join(out, "dev"))).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
