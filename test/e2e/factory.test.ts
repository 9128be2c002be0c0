import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { canRun, HUSK, husk, IMAGE_DIR, leftovers, makeBundle, makeEnv, waitFor, type E2eEnv } from "./env.ts";

/**
 * VM templates on real VMs: the first sandbox boots cold and leaves a
 * template behind; later ones are clones, each with its own RNG state;
 * broken, stale or racing templates never give a broken sandbox. Runs on a
 * private copy of the image and a private factory directory, so nothing
 * here touches the templates other tests use.
 */

let env: E2eEnv;
let factory: string;
let image: string;
const T = 300_000;

interface FactoryStatus {
  templates: { key: string; usable: boolean; stale: boolean; nics: number; memoryMiB: number; problem?: string }[];
  building: string[];
}

async function status(): Promise<FactoryStatus> {
  const r = await husk(env, ["factory", "status", "--factory-dir", factory]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as FactoryStatus;
}

function bootOf(id: string): { mode: string; warning?: string } {
  return JSON.parse(readFileSync(join(env.root, "sandboxes", id, "vm-state.json"), "utf8")).boot;
}

/** QEMU processes whose command line names the private factory directory (builders' and clones'). */
function factoryQemus(): number[] {
  const out: number[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (cmd.startsWith("/usr/bin/qemu-system") || cmd.includes("qemu-system-x86_64\0")) if (cmd.includes(factory)) out.push(Number(pid));
    } catch {
      /* gone */
    }
  }
  return out;
}

describe.skipIf(!canRun)("VM templates", () => {
  beforeAll(() => {
    env = makeEnv("factory");
    image = join(env.dir, "image");
    cpSync(IMAGE_DIR, image, { recursive: true });
    factory = `/dev/shm/husk-e2e-factory-${process.pid}`;
    const m = JSON.parse(readFileSync(join(image, "manifest.json"), "utf8"));
    writeFileSync(
      env.config,
      `${readFileSync(env.config, "utf8").replaceAll(IMAGE_DIR, image)}[factory]\ntemplate = true\ndir = ${JSON.stringify(factory)}\n`,
    );
    expect(m.kernel.path).toBeTruthy();
  });
  afterAll(async () => {
    await env.cleanup();
    await husk(env, ["factory", "destroy", "--factory-dir", factory]).catch(() => {});
    rmSync(factory, { recursive: true, force: true });
  });

  test("the first sandbox boots cold and a template is made in the background; the next ones are clones", { timeout: T }, async () => {
    expect((await status()).templates).toEqual([]);
    const bundle = makeBundle(env, "b1", ["sleep", "1000"]);
    const first = await husk(env, ["create", "--bundle", bundle, "cold1"]);
    expect(first.code).toBe(0);
    expect(bootOf("cold1").mode).toBe("cold");
    const made = await waitFor(async () => (await status()).templates.find((t) => t.usable), 180_000, "the background template");
    expect(made).toMatchObject({ nics: 0, memoryMiB: 512, stale: false });
    expect((await husk(env, ["delete", "--force", "cold1"])).code).toBe(0);

    // Two clones side by side: each reseeded its RNG (same template memory, different random bytes).
    const rng = makeBundle(env, "rng", ["sh", "-c", "head -c 16 /dev/urandom | od -An -tx1; date +%s"]);
    const outs: string[] = [];
    for (const id of ["clone1", "clone2"]) {
      const r = await husk(env, ["run", "--bundle", rng, id]);
      expect(r.code).toBe(0);
      outs.push(r.stdout);
    }
    const [a, b] = outs.map((o) => o.trim().split("\n"));
    expect(a![0]).not.toBe(b![0]);
    // The guest clock was set from the host's at restore.
    for (const o of [a!, b!]) expect(Math.abs(Number(o[1]) - Date.now() / 1000)).toBeLessThan(30);

    const c = await husk(env, ["create", "--bundle", bundle, "clone3"]);
    expect(c.code).toBe(0);
    expect(bootOf("clone3").mode).toBe("clone");
    expect((await husk(env, ["start", "clone3"])).code).toBe(0);
    const ex = await husk(env, ["exec", "clone3", "sh", "-c", "ls /proc/1/cmdline && echo ok"]);
    expect(ex.stdout).toContain("ok");
    expect((await husk(env, ["delete", "--force", "clone3"])).code).toBe(0);
    expect(leftovers(env)).toEqual([]);
  });

  test("a corrupt state file or a truncated memory file: cold boot with a warning, the template made again", { timeout: T }, async () => {
    const bundle = makeBundle(env, "b2", ["true"]);
    for (const breakIt of [
      (dir: string) =>
        writeFileSync(
          join(dir, "state"),
          readFileSync(join(dir, "state")).map((x, i) => (i === 100 ? x ^ 0xff : x)),
        ),
      (dir: string) => truncateSync(join(dir, "memory"), 4096),
    ]) {
      const t = (await waitFor(async () => (await status()).templates.find((x) => x.usable), 180_000, "a template"))!;
      breakIt(join(factory, t.key));
      const r = await husk(env, ["create", "--bundle", bundle, "broken"]);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/template .* (is unusable|failed)/);
      expect(bootOf("broken").mode).toBe("cold");
      expect((await husk(env, ["delete", "--force", "broken"])).code).toBe(0);
    }
    // Made again, usable.
    await waitFor(async () => (await status()).templates.find((x) => x.usable), 180_000, "the template made again");
  });

  test("a template whose memory is garbage (same size): the clone is killed, the sandbox boots cold", { timeout: T }, async () => {
    const t = (await waitFor(async () => (await status()).templates.find((x) => x.usable), 180_000, "a template"))!;
    const memory = join(factory, t.key, "memory");
    // Sparse zeros of the same size: the clone's CPU runs into zeroed memory and dies.
    truncateSync(memory, 0);
    truncateSync(memory, t.memoryMiB * 1024 * 1024);
    const bundle = makeBundle(env, "b3", ["sh", "-c", "echo alive"]);
    const r = await husk(env, ["run", "--bundle", bundle, "garbage"]);
    if (r.code !== 0) console.error(r.stderr);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("alive");
    expect(r.stderr).toMatch(/clone of template .* failed/);
    expect(leftovers(env)).toEqual([]);
    expect(factoryQemus().length).toBeLessThanOrEqual(1); // at most the background rebuild
  });

  test("an image rebuilt since the template was made: the template is stale and never used", { timeout: T }, async () => {
    await waitFor(async () => (await status()).templates.find((x) => x.usable), 180_000, "a template");
    const future = new Date(Date.now() + 60_000);
    utimesSync(join(image, "vmlinux"), future, future);
    const s = await status();
    expect(s.templates.every((t) => t.stale && !t.usable)).toBe(true);
    const bundle = makeBundle(env, "b4", ["true"]);
    const r = await husk(env, ["create", "--bundle", bundle, "stale"]);
    expect(r.code).toBe(0);
    expect(bootOf("stale").mode).toBe("cold");
    expect((await husk(env, ["delete", "--force", "stale"])).code).toBe(0);
    // The next build prunes the stale one and makes the new one.
    await waitFor(
      async () => {
        const now = await status();
        return now.templates.length === 1 && now.templates[0]!.usable ? now : undefined;
      },
      180_000,
      "the stale template replaced",
    );
  });

  test("two builds of the same template race: one builds, the other waits and uses it", { timeout: T }, async () => {
    expect((await husk(env, ["factory", "destroy", "--factory-dir", factory])).code).toBe(0);
    const [a, b] = await Promise.all([
      husk(env, ["factory", "init", "--factory-dir", factory]),
      husk(env, ["factory", "init", "--factory-dir", factory]),
    ]);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    const statuses = [JSON.parse(a.stdout).status, JSON.parse(b.stdout).status].sort();
    expect(statuses).toEqual(["built", "exists"]);
    expect((await status()).templates.length).toBe(1);
  });

  test("kill -9 during a template build leaves nothing that is later used; destroy cleans it", { timeout: T }, async () => {
    for (const afterMs of [300, 1500, 3000]) {
      expect((await husk(env, ["factory", "destroy", "--factory-dir", factory])).code).toBe(0);
      const p = Bun.spawn([HUSK, ...env.globals, "factory", "init", "--factory-dir", factory], { stdout: "ignore", stderr: "ignore" });
      await Bun.sleep(afterMs);
      p.kill("SIGKILL");
      await p.exited;
      const s = await status();
      expect(s.templates.filter((t) => t.usable).length).toBe(0);
      expect(s.building).toEqual([]);
      await husk(env, ["factory", "destroy", "--factory-dir", factory]);
      await waitFor(() => (factoryQemus().length === 0 ? true : undefined), 10_000, "the killed build's QEMU gone");
      expect(readdirSync(factory).filter((n) => n.startsWith(".build-"))).toEqual([]);
    }
    // And a build after that works.
    const r = await husk(env, ["factory", "init", "--factory-dir", factory]);
    expect(JSON.parse(r.stdout).status).toBe("built");
  });

  test("no room on the tmpfs: factory init fails with E_FACTORY naming the sizes; sandboxes boot cold", { timeout: T }, async () => {
    const small = join(env.dir, "small-tmpfs");
    mkdirSync(small, { recursive: true });
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", small]).exitCode).toBe(0);
    try {
      const r = await husk(env, ["factory", "init", "--format", "json", "--factory-dir", small]);
      expect(r.code).not.toBe(0);
      const err = JSON.parse(r.stdout).error;
      expect(err.code).toBe("E_FACTORY");
      expect(err.message).toMatch(/MiB free, \d+ MiB needed/);
      expect(readdirSync(small).filter((n) => n.startsWith(".build-"))).toEqual([]);
    } finally {
      Bun.spawnSync(["umount", small]);
    }
    expect(existsSync(small)).toBe(true);
    // With the factory on that tmpfs, a sandbox still comes up (cold).
    Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", small]);
    try {
      writeFileSync(
        env.config,
        readFileSync(env.config, "utf8").replace(`dir = ${JSON.stringify(factory)}`, `dir = ${JSON.stringify(small)}`),
      );
      const bundle = makeBundle(env, "b5", ["sh", "-c", "echo still"]);
      const r = await husk(env, ["run", "--bundle", bundle, "nospace"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("still");
    } finally {
      writeFileSync(
        env.config,
        readFileSync(env.config, "utf8").replace(`dir = ${JSON.stringify(small)}`, `dir = ${JSON.stringify(factory)}`),
      );
      await Bun.sleep(500); // a background build that failed on space has exited
      Bun.spawnSync(["umount", "-l", small]);
    }
    expect(leftovers(env)).toEqual([]);
  });
});
