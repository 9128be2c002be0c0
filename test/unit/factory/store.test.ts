import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { identity, templateKey } from "../../../src/factory/key.ts";
import { isLockHeld, tryLock } from "../../../src/factory/lock.ts";
import { checkSpace } from "../../../src/factory/space.ts";
import {
  buildDir,
  checkTemplate,
  discardTemplate,
  findTemplate,
  listTemplates,
  lockFile,
  pruneTemplates,
  sha256File,
  sweepAbandonedBuilds,
  writeTemplateRecord,
  type TemplateRecord,
} from "../../../src/factory/store.ts";
import type { HostFacts } from "../../../src/hypervisor/qemu/host.ts";
import type { VmSpec } from "../../../src/hypervisor/types.ts";

const host: HostFacts = { cpuFlags: new Set(["constant_tsc"]), tscKhz: 2100000, kvmOpens: true, vhostVsock: false };
let dir: string;
let files: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "husk-factory-"));
  files = join(dir, "img");
  mkdirSync(files);
  for (const f of ["vmlinux", "initramfs.cpio", "qemu"]) writeFileSync(join(files, f), f);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const spec = (over: Partial<VmSpec> = {}): VmSpec => ({
  sandboxId: "sb1",
  dir: "/run/husk/sandboxes/sb1",
  sharedDir: "/run/husk/sandboxes/sb1/shared",
  binary: join(files, "qemu"),
  kernel: join(files, "vmlinux"),
  initrd: join(files, "initramfs.cpio"),
  machine: "microvm",
  accelerator: "tcg",
  vcpus: 1,
  memoryMiB: 512,
  kernelParams: [],
  bootTimeoutMs: 60000,
  consoleLog: "/run/husk/sandboxes/sb1/console.log",
  qmpSocket: "/run/husk/sandboxes/sb1/qmp.sock",
  agentSocket: "/run/husk/sandboxes/sb1/agent.sock",
  ...over,
});

describe("template key", () => {
  test("the same for any sandbox of the same shape (paths, ids, taps, cgroups do not matter)", async () => {
    const a = await templateKey(spec(), host);
    const b = await templateKey(
      spec({
        sandboxId: "other",
        dir: "/x/sandboxes/other",
        sharedDir: "/x/s",
        qmpSocket: "/x/q",
        agentSocket: "/x/a",
        consoleLog: "/x/c",
        hostCgroup: "/pod/c1",
        bootTimeoutMs: 5,
      }),
      host,
    );
    expect(a.key).toMatch(/^[0-9a-f]{24}$/);
    expect(b.key).toBe(a.key);
    const n1 = await templateKey(spec({ network: { netns: "/n1", nics: [{ tap: "t1", mac: "0a:00:00:00:00:01" }] } }), host);
    const n2 = await templateKey(spec({ network: { netns: "/n2", nics: [{ tap: "t2", mac: "0a:00:00:00:00:02" }] } }), host);
    expect(n2.key).toBe(n1.key);
  });

  test("differs with whatever a clone depends on: size, NIC count, kernel parameters, machine, the files", async () => {
    const base = (await templateKey(spec(), host)).key;
    const other = [
      spec({ memoryMiB: 1024 }),
      spec({ vcpus: 2 }),
      spec({ kernelParams: ["quiet"] }),
      spec({ machine: "q35" }),
      spec({ network: { netns: "/n", nics: [{ tap: "t" }] } }),
    ];
    for (const s of other) expect((await templateKey(s, host)).key).not.toBe(base);
    expect((await templateKey(spec(), { ...host, tscKhz: 1 })).key).not.toBe(base);
    const future = new Date(Date.now() + 100_000);
    utimesSync(join(files, "vmlinux"), future, future); // the image was rebuilt
    expect((await templateKey(spec(), host)).key).not.toBe(base);
  });
});

function fakeTemplate(key: string, over: Partial<TemplateRecord> = {}): string {
  const t = join(dir, "factory", key);
  mkdirSync(t, { recursive: true });
  writeFileSync(join(t, "state"), "device state");
  writeFileSync(join(t, "memory"), "");
  truncateSync(join(t, "memory"), 64 * 1024 * 1024);
  writeTemplateRecord(t, {
    version: 1,
    key,
    createdAt: new Date().toISOString(),
    husk: "test",
    machine: "microvm",
    vcpus: 1,
    memoryMiB: 64,
    nics: 0,
    kernel: join(files, "vmlinux"),
    qemu: join(files, "qemu"),
    files: { kernel: identity(join(files, "vmlinux")), qemu: identity(join(files, "qemu")) },
    argv: [],
    stateBytes: 12,
    stateSha256: sha256File(join(t, "state")),
    bootMs: 1,
    saveMs: 1,
    ...over,
  });
  return t;
}

describe("template store", () => {
  const K = "0123456789abcdef01234567";

  test("a complete template is found; a missing one is simply not there", () => {
    expect(findTemplate(join(dir, "factory"), K)).toEqual({});
    const t = fakeTemplate(K);
    expect(findTemplate(join(dir, "factory"), K).template?.dir).toBe(t);
  });

  test("a corrupt state, a truncated memory file, a missing or invalid template.json: never used, and why", () => {
    const t = fakeTemplate(K);
    writeFileSync(join(t, "state"), "device statX");
    expect(checkTemplate(t).problem).toMatch(/sha256/);
    writeFileSync(join(t, "state"), "short");
    expect(checkTemplate(t).problem).toMatch(/state file is 5 bytes/);
    fakeTemplate(K);
    truncateSync(join(t, "memory"), 4096);
    expect(checkTemplate(t).problem).toMatch(/memory file is 4096 bytes/);
    rmSync(join(t, "memory"));
    expect(checkTemplate(t).problem).toBe("memory file missing");
    writeFileSync(join(t, "template.json"), "{");
    expect(checkTemplate(t).problem).toMatch(/unreadable/);
    writeFileSync(join(t, "template.json"), JSON.stringify({ version: 1, key: K, extra: 1 }));
    expect(checkTemplate(t).problem).toMatch(/invalid/);
  });

  test("stale when a file it was made from changed; pruned with the broken ones", () => {
    fakeTemplate(K);
    const other = "fedcba9876543210fedcba98";
    fakeTemplate(other);
    rmSync(join(dir, "factory", other, "state"));
    expect(listTemplates(join(dir, "factory")).map((t) => [t.key, t.stale])).toEqual(expect.arrayContaining([[K, false]]));
    writeFileSync(join(files, "qemu"), "upgraded");
    expect(listTemplates(join(dir, "factory")).find((t) => t.key === K)?.stale).toBe(true);
    expect(pruneTemplates(join(dir, "factory")).length).toBe(2);
    expect(listTemplates(join(dir, "factory"))).toEqual([]);
  });

  test("discard renames aside and removes; twice is harmless", () => {
    fakeTemplate(K);
    discardTemplate(join(dir, "factory"), K);
    discardTemplate(join(dir, "factory"), K);
    expect(readdirSync(join(dir, "factory"))).toEqual([]);
  });

  test("an abandoned build (its lock free) is swept; one whose builder holds the lock is left alone", async () => {
    const f = join(dir, "factory");
    const busy = buildDir(f, K, 111);
    const gone = buildDir(f, "fedcba9876543210fedcba98", 222);
    mkdirSync(busy, { recursive: true });
    mkdirSync(gone, { recursive: true });
    const lock = tryLock(lockFile(f, K))!;
    expect(lock).toBeDefined();
    expect(isLockHeld(lockFile(f, K))).toBe(true);
    expect(tryLock(lockFile(f, K))).toBeUndefined();
    expect(await sweepAbandonedBuilds(f)).toEqual([gone]);
    lock.release();
    expect(isLockHeld(lockFile(f, K))).toBe(false);
    expect(await sweepAbandonedBuilds(f)).toEqual([busy]);
  });

  test("lock files of keys with no template and no build are swept; a held one, or one with a template, stays", async () => {
    const f = join(dir, "factory");
    const orphan = "aaaaaaaaaaaaaaaaaaaaaaaa";
    const heldKey = "bbbbbbbbbbbbbbbbbbbbbbbb";
    mkdirSync(f, { recursive: true });
    writeFileSync(lockFile(f, orphan), "");
    writeFileSync(lockFile(f, K), "");
    mkdirSync(join(f, K), { recursive: true }); // a template directory (its contents do not matter here)
    const held = tryLock(lockFile(f, heldKey))!;
    await sweepAbandonedBuilds(f);
    const left = readdirSync(f)
      .filter((n) => n.endsWith(".lock"))
      .sort();
    expect(left).toEqual([`${K}.lock`, `${heldKey}.lock`]);
    held.release();
  });

  test("a lock taken on a file that was swept meanwhile is not kept: tryLock locks the file at the path", () => {
    const f = join(dir, "factory");
    mkdirSync(f, { recursive: true });
    const path = lockFile(f, K);
    const first = tryLock(path)!;
    rmSync(path); // as a sweep would, between another process's open and its flock
    const second = tryLock(path);
    // The old inode is held by `first`, but the path is a new file: second gets it, and it is the one at the path.
    expect(second).toBeDefined();
    expect(isLockHeld(path)).toBe(true);
    second!.release();
    first.release();
  });
});

test("space: a factory dir that is not a tmpfs, or too small, is refused with E_FACTORY", () => {
  let err: unknown;
  try {
    checkSpace(dir, 1024 * 1024 * 1024); // 1 PiB
  } catch (e) {
    err = e;
  }
  expect((err as { code?: string }).code).toBe("E_FACTORY");
  expect((err as Error).message).toMatch(/MiB free/);
  expect(() => checkSpace("/dev/shm", 1)).not.toThrow();
});

test("eviction keeps the most recently used templates", async () => {
  const f = join(dir, "factory");
  const keys = ["000000000000000000000001", "000000000000000000000002", "000000000000000000000003"];
  for (const [i, k] of keys.entries()) {
    const t = fakeTemplate(k);
    utimesSync(t, new Date(1000 * (i + 1)), new Date(1000 * (i + 1)));
  }
  const { markUsed, evictTemplates } = await import("../../../src/factory/store.ts");
  markUsed(join(f, keys[0]!)); // the oldest was just used
  expect(evictTemplates(f, 2)).toEqual([join(f, keys[1]!)]);
  expect(
    listTemplates(f)
      .map((t) => t.key)
      .sort(),
  ).toEqual([keys[0]!, keys[2]!]);
});
