import { describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HuskError } from "../../../src/host/errors.ts";
import {
  type ImageManifest,
  parseImageManifest,
  readImageManifest,
  serializeManifest,
  writeImageManifest,
} from "../../../src/image/manifest.ts";

const sha = "a".repeat(64);
const manifest = (): ImageManifest => ({
  schemaVersion: 1,
  husk: { version: "0.1.0", commit: "abc" },
  kernel: { path: "vmlinux", kind: "minimal", format: "vmlinux", version: "6.1.192" },
  initrd: { path: "initramfs.cpio", compression: "none" },
  agentDir: "agent",
  machine: "microvm",
  kernelParams: ["console=ttyS0"],
  modules: [],
  files: [{ path: "vmlinux", size: 10, sha256: sha }],
  inputs: { kernel: "k", initramfs: "i", agent: "a" },
});

describe("image manifest", () => {
  test("round trip through the file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "husk-manifest-"));
    try {
      await writeImageManifest(dir, manifest());
      expect(await readImageManifest(dir)).toEqual(manifest());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("serialization is stable", () => {
    expect(serializeManifest(manifest())).toBe(serializeManifest(structuredClone(manifest())));
  });

  test.each([
    ["unknown field", { ...manifest(), extra: 1 }],
    ["bad kernel kind", { ...manifest(), kernel: { ...manifest().kernel, kind: "custom" } }],
    ["absolute file path", { ...manifest(), files: [{ path: "/etc/passwd", size: 1, sha256: sha }] }],
    ["path escaping the dir", { ...manifest(), agentDir: "../x" }],
    ["bad sha256", { ...manifest(), files: [{ path: "vmlinux", size: 1, sha256: "xyz" }] }],
    ["other schema version", { ...manifest(), schemaVersion: 2 }],
  ])("rejects %s with E_IMAGE", (_name, data) => {
    try {
      parseImageManifest(data);
      throw new Error("accepted");
    } catch (err) {
      expect(err).toBeInstanceOf(HuskError);
      expect((err as HuskError).code).toBe("E_IMAGE");
    }
  });

  test("missing manifest → E_NOT_FOUND telling to build; garbage → E_IMAGE", async () => {
    const dir = await mkdtemp(join(tmpdir(), "husk-manifest-"));
    try {
      await expect(readImageManifest(dir)).rejects.toMatchObject({
        code: "E_NOT_FOUND",
        message: expect.stringContaining("husk image build"),
      });
      await writeFile(join(dir, "manifest.json"), "{not json");
      await expect(readImageManifest(dir)).rejects.toMatchObject({ code: "E_IMAGE" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
