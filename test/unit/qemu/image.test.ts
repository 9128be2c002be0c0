import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeImageManifest, type ImageManifest } from "../../../src/image/manifest.ts";
import { imageManifestFor, withImageParams } from "../../../src/hypervisor/qemu/image.ts";
import type { VmSpec } from "../../../src/hypervisor/types.ts";

const manifest: ImageManifest = {
  schemaVersion: 1,
  husk: { version: "0.1.0", commit: "abc" },
  kernel: { path: "vmlinux", kind: "minimal", format: "vmlinux", version: "6.1" },
  initrd: { path: "initramfs.cpio", compression: "none" },
  machine: "microvm",
  kernelParams: ["quiet", "acpi=off", "init=/init"],
  modules: [],
  files: [],
  inputs: { kernel: "k" },
};

const spec = (kernel: string, kernelParams: string[] = []): VmSpec => ({
  sandboxId: "sb",
  dir: "/d",
  sharedDir: "/d/shared",
  binary: "qemu-system-x86_64",
  kernel,
  machine: "microvm",
  accelerator: "tcg",
  vcpus: 1,
  memoryMiB: 256,
  kernelParams,
  bootTimeoutMs: 1000,
  consoleLog: "/d/console.log",
  qmpSocket: "/d/qmp.sock",
  agentSocket: "/d/agent.sock",
});

describe("guest image params", () => {
  test("image params first, config params after, duplicates dropped", () => {
    const s = withImageParams(spec("/img/vmlinux", ["quiet", "debug"]), manifest);
    expect(s.kernelParams).toEqual(["acpi=off", "init=/init", "quiet", "debug"]);
    expect(withImageParams(spec("/k"), undefined).kernelParams).toEqual([]);
  });
  test("the manifest next to the kernel is used only if it names that kernel", async () => {
    const dir = mkdtempSync(join(tmpdir(), "husk-img-"));
    writeFileSync(join(dir, "vmlinux"), "k");
    writeFileSync(join(dir, "other"), "k");
    await writeImageManifest(dir, manifest);
    expect((await imageManifestFor(join(dir, "vmlinux")))?.kernelParams).toEqual(manifest.kernelParams);
    expect(await imageManifestFor(join(dir, "other"))).toBeUndefined();
    expect(await imageManifestFor("/boot/vmlinuz-none")).toBeUndefined();
  });
});
