/**
 * buildImage against this host's packages (Debian kernel path: no compile):
 * output layout, manifest, idempotence (second run skips every step) and
 * reproducibility (same inputs, same initramfs bytes).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildImage } from "../../../src/image/build.ts";
import { findDebianKernel } from "../../../src/image/kernel-debian.ts";
import { readImageManifest } from "../../../src/image/manifest.ts";
import type { ImageProgressEvent } from "../../../src/image/types.ts";
import { BUN } from "./fixture.ts";

const debian = await findDebianKernel().catch(() => undefined);
const skip = !debian
  ? "no /boot/vmlinuz-* (apt-get install -y linux-image-amd64)"
  : !existsSync("/bin/busybox") || !Bun.which("crun")
    ? "busybox-static or crun not installed"
    : undefined;

describe.skipIf(skip !== undefined)(`buildImage (Debian kernel)${skip ? ` — SKIPPED: ${skip}` : ""}`, () => {
  const dirs: string[] = [];
  const tmp = async () => {
    const d = await mkdtemp(join(tmpdir(), "husk-image-build-"));
    dirs.push(d);
    return d;
  };
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  test("writes kernel, initramfs, agent and a valid manifest; a second run skips every step", async () => {
    const out = await tmp();
    const m1 = await buildImage({ output: out, kernel: "debian", agentPath: BUN, onProgress: () => {} });
    expect(m1.kernel.kind).toBe("debian-fallback");
    expect(m1.kernel.fallbackReason).toBeDefined();
    expect(m1.agentDir).toBe("agent");
    expect(m1.modules.some((p) => p.endsWith("/9p.ko"))).toBe(true);
    expect(m1.kernelParams).toContain("console=ttyS0");
    expect(m1.kernelParams.some((p) => p.startsWith("tsc_early_khz"))).toBe(false);
    for (const f of m1.files) expect((await stat(join(out, f.path))).size).toBe(f.size);
    expect(await readImageManifest(out)).toEqual(m1);

    const events: ImageProgressEvent[] = [];
    const t = performance.now();
    const m2 = await buildImage({ output: out, kernel: "debian", agentPath: BUN, onProgress: (e) => events.push(e) });
    expect(m2).toEqual(m1);
    expect(events.some((e) => e.step === "initramfs" && e.message.startsWith("unchanged"))).toBe(true);
    expect(performance.now() - t).toBeLessThan(15_000);
  }, 300_000);

  test("reproducible: two builds from the same inputs give the same initramfs bytes", async () => {
    const [a, b] = [await tmp(), await tmp()];
    const ma = await buildImage({ output: a, kernel: "debian", agentPath: BUN, onProgress: () => {} });
    const mb = await buildImage({ output: b, kernel: "debian", agentPath: BUN, onProgress: () => {} });
    expect(mb.files).toEqual(ma.files);
  }, 300_000);

  test("kernel-only keeps what a previous full build left", async () => {
    const out = await tmp();
    const full = await buildImage({ output: out, kernel: "debian", agentPath: BUN, onProgress: () => {} });
    const k = await buildImage({ output: out, kernel: "debian", kernelOnly: true, onProgress: () => {} });
    expect(k.files).toEqual(full.files);
    expect(k.initrd).toEqual(full.initrd);
  }, 300_000);

  test("a missing agent executable is an E_IMAGE error", async () => {
    await expect(
      buildImage({ output: await tmp(), kernel: "debian", agentPath: "/nonexistent/husk", onProgress: () => {} }),
    ).rejects.toMatchObject({
      code: "E_IMAGE",
    });
  });
});
