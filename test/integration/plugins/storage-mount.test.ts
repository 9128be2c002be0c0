import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createLifecycle } from "../../../src/plugins/lifecycle.ts";
import storage from "../../../plugins/storage/index.ts";
import { mountsUnder } from "../../../src/host/mounts.ts";
import { baseSpec, containerCtx, createPhases, tempDir } from "../../unit/plugins/helpers.ts";

/** Real bind mounts: root with CAP_SYS_ADMIN only; skipped visibly otherwise. */
const probe = tempDir("husk-mountprobe-");
mkdirSync(join(probe, "a"));
mkdirSync(join(probe, "b"));
const canMount =
  process.getuid?.() === 0 &&
  Bun.spawnSync(["mount", "--bind", join(probe, "a"), join(probe, "b")]).exitCode === 0 &&
  Bun.spawnSync(["umount", join(probe, "b")]).exitCode === 0;
if (!canMount) console.warn("skip: storage mount tests need root with mount rights");

describe.skipIf(!canMount)("storage plugin: real bind mounts (root)", () => {
  const cleanups: string[] = [];
  afterAll(async () => {
    for (const d of cleanups) for (const p of mountsUnder(d)) Bun.spawnSync(["umount", "-l", p]);
  });

  test("binds host paths under the shared dir, read-only really read-only, spec rewritten; poststop undoes, twice", async () => {
    const host = tempDir("husk-storage-");
    mkdirSync(join(host, "rw"));
    mkdirSync(join(host, "ro"));
    writeFileSync(join(host, "ro", "keep"), "original");
    writeFileSync(join(host, "hosts"), "127.0.0.1 localhost\n");
    const spec = baseSpec({
      mounts: [
        { destination: "/proc", type: "proc", source: "proc" },
        { destination: "/rw", type: "bind", source: join(host, "rw"), options: ["rbind", "rw"] },
        { destination: "/ro", type: "bind", source: join(host, "ro"), options: ["rbind", "ro"] },
        { destination: "/etc/hosts", type: "bind", source: join(host, "hosts"), options: ["bind", "ro"] },
        { destination: "/cache", type: "bind", source: join(host, "kubernetes.io~empty-dir", "c"), options: ["rbind"] },
      ],
    });
    const ctx = containerCtx(spec);
    const dir = join(ctx.sandboxDir, "shared", ctx.containerId, "mounts");
    cleanups.push(dir);
    const lc = await createLifecycle({ config: { plugins: {} }, bundled: [storage] });
    const out = await lc.containerCreate(ctx);

    expect(out.mounts!.map((m) => [m.destination, m.type, m.source])).toEqual([
      ["/proc", "proc", "proc"],
      ["/rw", "bind", `/run/husk/shared/${ctx.containerId}/mounts/1/rw`],
      ["/ro", "bind", `/run/husk/shared/${ctx.containerId}/mounts/2/ro`],
      ["/etc/hosts", "bind", `/run/husk/shared/${ctx.containerId}/mounts/3/hosts`],
      ["/cache", "tmpfs", "tmpfs"],
    ]);
    // What the guest reads over 9p is what these host paths show.
    writeFileSync(join(dir, "1", "rw", "written-through"), "yes");
    expect(readFileSync(join(host, "rw", "written-through"), "utf8")).toBe("yes");
    expect(readFileSync(join(dir, "2", "ro", "keep"), "utf8")).toBe("original");
    expect(() => writeFileSync(join(dir, "2", "ro", "new"), "x")).toThrow(/EROFS|read-only/i);
    expect(() => writeFileSync(join(dir, "3", "hosts"), "x")).toThrow(/EROFS|read-only/i);
    expect(readFileSync(join(dir, "3", "hosts"), "utf8")).toBe("127.0.0.1 localhost\n");
    expect(mountsUnder(dir)).toHaveLength(3);

    await lc.containerPoststop({ ...ctx, spec: out });
    expect(mountsUnder(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
    // Host data untouched by the undo.
    expect(readFileSync(join(host, "ro", "keep"), "utf8")).toBe("original");
    expect(readFileSync(join(host, "rw", "written-through"), "utf8")).toBe("yes");
    // Idempotent: a second undo (or one after a crashed create) is fine.
    await expect(lc.containerPoststop({ ...ctx, spec: out })).resolves.toBeUndefined();
  });

  test("a single file bind (resolv.conf-style) as the only mount", async () => {
    const host = tempDir("husk-storage-");
    writeFileSync(join(host, "resolv.conf"), "nameserver 192.0.2.53\n");
    const ctx = containerCtx(
      baseSpec({
        mounts: [{ destination: "/etc/resolv.conf", type: "bind", source: join(host, "resolv.conf"), options: ["rbind", "ro"] }],
      }),
    );
    const dir = join(ctx.sandboxDir, "shared", ctx.containerId, "mounts");
    cleanups.push(dir);
    const lc = await createLifecycle({ config: { plugins: {} }, bundled: [storage] });
    const out = await lc.containerCreate(ctx);
    expect(readFileSync(join(dir, "0", "resolv.conf"), "utf8")).toBe("nameserver 192.0.2.53\n");
    expect(() => writeFileSync(join(dir, "0", "resolv.conf"), "x")).toThrow(/EROFS|read-only/i);
    await lc.containerPoststop({ ...ctx, spec: out });
    expect(mountsUnder(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });

  test("a failure later in create undoes the mounts already made", async () => {
    const host = tempDir("husk-storage-");
    mkdirSync(join(host, "d"));
    const spec = baseSpec({
      mounts: [{ destination: "/d", type: "bind", source: join(host, "d") }],
      hooks: { createRuntime: [{ path: "/bin/false" }] },
    });
    const ctx = containerCtx(spec);
    const dir = join(ctx.sandboxDir, "shared", ctx.containerId, "mounts");
    cleanups.push(dir);
    const lc = await createLifecycle({ config: { plugins: {} }, bundled: [storage] });
    await expect(createPhases(lc, ctx)).rejects.toMatchObject({ code: "E_HOOK" });
    expect(mountsUnder(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });
});
