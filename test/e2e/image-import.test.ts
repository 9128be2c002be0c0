import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { canRun, husk, makeBundle, makeEnv, type E2eEnv } from "./env.ts";

/**
 * The fleet workflow on one machine: build an image into a directory (not
 * installed), export it, import it into a fresh image directory as a second
 * host would, and run a container whose VM boots that imported kernel,
 * initramfs and agent. A damaged copy of the archive is refused with
 * E_IMAGE_CORRUPT and the imported image keeps working.
 */

let env: E2eEnv;
let imported: string;
let archive: string;

/** The kernel is built once per machine (setup.sh); without its cache a build here would compile it for minutes. */
const KERNEL_CACHE = "/var/cache/husk/kernel";
const ready = canRun && existsSync(KERNEL_CACHE);
if (canRun && !ready) console.warn(`SKIP image import e2e: no kernel build cache in ${KERNEL_CACHE} (run scripts/setup.sh)`);

describe.skipIf(!ready)("image built, exported, imported on a fresh host, and booted", () => {
  beforeAll(async () => {
    env = makeEnv("image");
    const built = join(env.dir, "build");
    archive = join(env.dir, "guest-image.tar.zst");
    imported = join(env.dir, "host2", "image");
    const b = await husk(env, ["image", "build", "--output", built], { timeoutMs: 900_000 });
    expect(b.stderr).toContain("image ready");
    expect(b.code).toBe(0);
    const e = await husk(env, ["image", "export", "--dir", built, "--format", "json", archive]);
    expect(e.code).toBe(0);
    expect(JSON.parse(e.stdout)).toMatchObject({ file: archive, files: 3 });
    const i = await husk(env, ["image", "import", "--dir", imported, archive]);
    expect(i.stderr).toBe("");
    expect(i.code).toBe(0);
    expect(i.stdout).toContain(`into ${imported}`);
    // The host's husk config now points at the imported image only.
    const m = JSON.parse(readFileSync(join(imported, "manifest.json"), "utf8"));
    const q = (s: string) => JSON.stringify(s);
    writeFileSync(
      env.config,
      [
        "[hypervisor]",
        `kernel = ${q(join(imported, m.kernel.path))}`,
        `initrd = ${q(join(imported, m.initrd.path))}`,
        `machine = ${q(m.machine)}`,
        "boot_timeout_ms = 180000",
        // Cold boots: a VM template of this temporary image would outlive it in /dev/shm.
        "[factory]",
        "template = false",
        "[runtime]",
        `root = ${q(env.root)}`,
        "",
      ].join("\n"),
    );
  }, 900_000);
  afterAll(async () => {
    await env?.cleanup();
  });

  test("a container runs from the imported image", { timeout: 300_000 }, async () => {
    const bundle = makeBundle(env, "b", ["sleep", "300"]);
    const r = await husk(env, ["run", "--detach", "--bundle", bundle, "imp1"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    // The VM booted the imported kernel and initramfs (its agent comes from the directory beside them).
    const sandbox = readFileSync(join(env.root, "sandboxes", "imp1", "sandbox.json"), "utf8");
    expect(sandbox).toContain(join(imported, "vmlinux"));
    const e = await husk(env, ["exec", "imp1", "sh", "-c", "echo hello-from-$((40+2)); exit 3"]);
    expect(e.stdout).toContain("hello-from-42");
    expect(e.code).toBe(3);
    expect((await husk(env, ["delete", "--force", "imp1"])).code).toBe(0);
  });

  test("husk check says where the image came from", async () => {
    const r = await husk(env, ["check", "--format", "json"]);
    const checks = JSON.parse(r.stdout).checks as { name: string; ok: boolean; detail: string }[];
    const origin = checks.find((c) => c.name === "image origin");
    expect(origin?.detail).toContain(`imported from ${archive} on `);
    expect(origin?.detail).toContain("built here on ");
    expect(checks.find((c) => c.name === "image agent")?.ok).toBe(true);
  });

  test("a damaged archive is refused with E_IMAGE_CORRUPT; the imported image stays", async () => {
    const before = readFileSync(join(imported, "manifest.json"), "utf8");
    const data = readFileSync(archive);
    const bad = join(env.dir, "bad.tar.zst");
    writeFileSync(bad, data.subarray(0, Math.floor(data.length * 0.6)));
    const r = await husk(env, ["image", "import", "--dir", imported, "--format", "json", bad]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error.code).toBe("E_IMAGE_CORRUPT");
    expect(r.stderr).toMatch(/^husk: image archive .* is corrupt: /);
    expect(readFileSync(join(imported, "manifest.json"), "utf8")).toBe(before);
    expect(existsSync(`${imported}.previous`)).toBe(false);
    // and the image still boots
    const bundle = makeBundle(env, "c", ["true"]);
    const run = await husk(env, ["run", "--bundle", bundle, "imp2"]);
    expect(run.code).toBe(0);
    await husk(env, ["delete", "--force", "imp2"]);
  }, 300_000);
});
