import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "tar";
import { type ErrorCode, HuskError } from "../../../src/host/errors.ts";
import { exportImage, importImage, type HuskBuild } from "../../../src/image/archive.ts";
import { type ImageManifest, readImageManifest, writeImageManifest } from "../../../src/image/manifest.ts";

/**
 * Image archives on small fake images: a round trip, an import over an
 * installed image (swapped in, the old one kept), and every way an archive
 * can be wrong refused with a stable code and the installed image untouched.
 */

const SELF: HuskBuild = { version: "9.9.9", commit: "c0ffee" };
const sha = (b: Uint8Array | string) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

let work: string;

function fakeImage(dir: string, tag: string, build: HuskBuild = SELF): ImageManifest {
  // Random bytes: an archive too large to be all in its first block, so truncations land mid-file.
  const noise = Buffer.from(crypto.getRandomValues(new Uint8Array(256 * 1024))).toString("base64");
  const files: Record<string, string> = {
    vmlinux: `kernel ${tag} `.repeat(5000) + noise,
    "initramfs.cpio": `initramfs ${tag} `.repeat(3000),
    "agent/husk": `#!/bin/sh\necho agent ${tag}\n`,
  };
  mkdirSync(join(dir, "agent"), { recursive: true });
  for (const [p, text] of Object.entries(files)) writeFileSync(join(dir, p), text, { mode: p === "agent/husk" ? 0o755 : 0o644 });
  const m: ImageManifest = {
    schemaVersion: 1,
    husk: build,
    kernel: { path: "vmlinux", kind: "minimal", format: "vmlinux", version: "6.1.0" },
    initrd: { path: "initramfs.cpio", compression: "none" },
    agentDir: "agent",
    machine: "microvm",
    kernelParams: ["console=ttyS0"],
    modules: [],
    files: Object.entries(files).map(([path, text]) => ({ path, size: Buffer.byteLength(text), sha256: sha(text) })),
    inputs: { kernel: "k", initramfs: "i", agent: "a" },
    origin: { kind: "built", host: "builder", at: "2026-12-01T10:00:00.000Z" },
  };
  return m;
}

async function makeImage(name: string, tag: string, build: HuskBuild = SELF): Promise<string> {
  const dir = join(work, name);
  await writeImageManifest(dir, fakeImage(dir, tag, build));
  return dir;
}

async function expectCode(p: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<HuskError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(HuskError);
    expect((e as HuskError).code).toBe(code);
    if (message) expect((e as HuskError).message).toMatch(message);
    if (process.env.SHOW) console.log(code, (e as HuskError).message);
    return e as HuskError;
  }
  throw new Error(`expected ${code}, it succeeded`);
}

/** Installed image as a comparable snapshot. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of ["manifest.json", "vmlinux", "initramfs.cpio", "agent/husk"]) out[p] = readFileSync(join(dir, p), "utf8");
  return out;
}

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), "husk-archive-"));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("image export and import", () => {
  test("round trip into a fresh directory: same files, mode kept, origin recorded", async () => {
    const src = await makeImage("src", "A");
    const file = join(work, "image.tar.zst");
    const r = await exportImage(src, file);
    expect(r).toMatchObject({ file, husk: SELF, files: 3 });
    expect(readFileSync(file).subarray(0, 4)).toEqual(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])); // zstd magic
    expect(readdirSync(work)).not.toContain(expect.stringContaining(".tmp"));

    const dest = join(work, "fleet", "image");
    const imp = await importImage(file, dest, { self: SELF });
    expect(imp.dir).toBe(dest);
    expect(imp.previous).toBeUndefined();
    for (const p of ["vmlinux", "initramfs.cpio", "agent/husk"]) expect(readFileSync(join(dest, p))).toEqual(readFileSync(join(src, p)));
    expect(Bun.file(join(dest, "agent/husk")).size).toBeGreaterThan(0);
    const { statSync } = await import("node:fs");
    expect(statSync(join(dest, "agent/husk")).mode & 0o777).toBe(0o755);
    const m = await readImageManifest(dest);
    expect(m.origin).toMatchObject({
      kind: "imported",
      file,
      archiveSha256: r.sha256,
      built: { host: "builder", at: "2026-12-01T10:00:00.000Z" },
    });
    expect(readdirSync(join(work, "fleet"))).toEqual(["image"]); // no staging left
  });

  test("import over an installed image swaps it in; the old one is kept at .previous", async () => {
    const file = join(work, "b.tar.zst");
    await exportImage(await makeImage("src", "B"), file);
    const installed = await makeImage("image", "OLD");
    const before = snapshot(installed);
    const imp = await importImage(file, installed, { self: SELF });
    expect(imp.previous).toBe(`${installed}.previous`);
    expect(snapshot(`${installed}.previous`)).toEqual(before);
    expect(readFileSync(join(installed, "vmlinux"), "utf8")).toContain("kernel B");
    // again: the previous generation is replaced, not piled up
    await importImage(file, installed, { self: SELF });
    expect(readFileSync(join(`${installed}.previous`, "vmlinux"), "utf8")).toContain("kernel B");
    expect(readdirSync(work).sort()).toEqual(["b.tar.zst", "image", "image.previous", "src"]);
  });

  describe("refused, the installed image untouched", () => {
    let installed: string;
    let before: Record<string, string>;
    beforeEach(async () => {
      installed = await makeImage("image", "OLD");
      before = snapshot(installed);
    });
    afterEach(() => {
      expect(snapshot(installed)).toEqual(before);
      expect(readdirSync(work).filter((n) => n.startsWith(".image.import") || n === "image.previous")).toEqual([]);
    });

    test("made for another husk: E_IMAGE_VERSION", async () => {
      const file = join(work, "other.tar.zst");
      await exportImage(await makeImage("src", "X", { version: "9.9.9", commit: "0ther" }), file);
      await expectCode(
        importImage(file, installed, { self: SELF }),
        "E_IMAGE_VERSION",
        /built for husk 9\.9\.9 \(0ther\), this is husk 9\.9\.9 \(c0ffee\)/,
      );
    });

    test("truncated: E_IMAGE_CORRUPT", async () => {
      const file = join(work, "t.tar.zst");
      const r = await exportImage(await makeImage("src", "T"), file);
      for (const keep of [Math.floor(r.size / 2), r.size - 20, 100]) {
        const cut = join(work, `cut-${keep}.tar.zst`);
        writeFileSync(cut, readFileSync(file).subarray(0, keep));
        await expectCode(importImage(cut, installed, { self: SELF }), "E_IMAGE_CORRUPT");
        await rm(cut);
      }
    });

    test("bytes flipped: E_IMAGE_CORRUPT", async () => {
      const file = join(work, "f.tar.zst");
      const r = await exportImage(await makeImage("src", "F"), file);
      const data = readFileSync(file);
      data[Math.floor(r.size / 2)]! ^= 0xff;
      writeFileSync(file, data);
      await expectCode(importImage(file, installed, { self: SELF }), "E_IMAGE_CORRUPT");
    });

    test("a file that does not match its manifest hash: E_IMAGE_CORRUPT naming it", async () => {
      const src = await makeImage("src", "H");
      writeFileSync(join(src, "initramfs.cpio"), readFileSync(join(src, "initramfs.cpio"), "utf8").replace("initramfs H", "initramfs Z"));
      const file = join(work, "h.tar.zst");
      await create({ file, cwd: src, zstd: true, portable: true }, ["manifest.json", "vmlinux", "initramfs.cpio", "agent/husk"]);
      const e = await expectCode(importImage(file, installed, { self: SELF }), "E_IMAGE_CORRUPT", /initramfs\.cpio has sha256/);
      expect(e.details).toEqual({ path: "initramfs.cpio" });
    });

    test("export refuses to pack an image whose files no longer match", async () => {
      const src = await makeImage("src", "E");
      writeFileSync(join(src, "vmlinux"), "tampered");
      await expectCode(exportImage(src, join(work, "e.tar.zst")), "E_IMAGE_CORRUPT", /vmlinux does not match/);
      expect(existsSync(join(work, "e.tar.zst"))).toBe(false);
    });

    test("a file missing, an extra file, a foreign tar, not an archive at all: E_IMAGE_CORRUPT", async () => {
      const src = await makeImage("src", "M");
      writeFileSync(join(src, "extra"), "x");
      const cases: [string, string[], RegExp][] = [
        ["missing", ["manifest.json", "vmlinux", "agent/husk"], /missing initramfs\.cpio/],
        ["extra", ["manifest.json", "vmlinux", "extra", "initramfs.cpio", "agent/husk"], /"extra" is not in its manifest/],
        ["foreign", ["vmlinux", "manifest.json"], /first entry is "vmlinux"/],
      ];
      for (const [name, entries, re] of cases) {
        const file = join(work, `${name}.tar.zst`);
        await create({ file, cwd: src, zstd: true, portable: true }, entries);
        await expectCode(importImage(file, installed, { self: SELF }), "E_IMAGE_CORRUPT", re);
      }
      const junk = join(work, "junk.tar.zst");
      writeFileSync(junk, "this is not an archive\n".repeat(100));
      await expectCode(importImage(junk, installed, { self: SELF }), "E_IMAGE_CORRUPT");
      const empty = join(work, "empty.tar.zst");
      writeFileSync(empty, "");
      truncateSync(empty, 0);
      await expectCode(importImage(empty, installed, { self: SELF }), "E_IMAGE_CORRUPT");
    });

    test("no such archive: E_NOT_FOUND", async () => {
      await expectCode(importImage(join(work, "nope.tar.zst"), installed, { self: SELF }), "E_NOT_FOUND");
    });
  });
});

test("import refuses to replace a directory that holds no image", async () => {
  const file = join(work, "a.tar.zst");
  await exportImage(await makeImage("src", "A"), file);
  const other = join(work, "boot");
  mkdirSync(other);
  writeFileSync(join(other, "vmlinuz"), "not ours");
  await expectCode(importImage(file, other, { self: SELF }), "E_IMAGE", /holds no husk image/);
  expect(readdirSync(other)).toEqual(["vmlinuz"]);
});
