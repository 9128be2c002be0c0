import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import storage from "../../../plugins/storage/index.ts";
import * as api from "../../../src/core/api.ts";
import { mountsUnder } from "../../../src/host/mounts.ts";
import { sandboxStateFile } from "../../../src/host/layout.ts";
import type { OciSpec } from "../../../src/oci/spec.ts";
import { createLifecycle } from "../../../src/plugins/lifecycle.ts";
import { tempDir } from "../../unit/hooks/helpers.ts";
import { containerConfig, makeEnv, minimalSpec, readJsonFile, type Env } from "../../unit/core/helpers.ts";

/**
 * The core on the mock drivers, with the real bind mounts it makes as root:
 * each container's rootfs bound into the 9p share, and what crash repair and
 * the storage plugin do with mounts. Unprivileged, the core uses symlinks
 * (covered by test/unit/core).
 */

const root = process.getuid?.() === 0;
if (!root) console.warn("skip: test/integration/core/mounts.test.ts needs root (bind mounts)");

let env: Env;
afterEach(async () => {
  await env?.cleanup();
});

describe.skipIf(!root)("core share mounts (root)", () => {
  test("each container's rootfs is bind-mounted into the share; the mapping names the sandbox", async () => {
    env = makeEnv();
    await api.createSandbox(env.ctx, {
      id: "sb",
      containers: [containerConfig("c1", env.bundle("b1")), containerConfig("c2", env.bundle("b2"))],
    });
    const sbDir = join(env.root, "sandboxes", "sb");
    expect(readJsonFile(join(sbDir, "containers", "c1", "state.json"))).toMatchObject({ state: "ready", share: "bind" });
    expect(mountsUnder(join(sbDir, "shared"))).toHaveLength(2);
    expect(Bun.file(join(sbDir, "shared/c1/rootfs/marker")).size).toBeGreaterThan(0);
    await api.deleteSandbox(env.ctx, "sb");
    expect(mountsUnder(env.dir)).toEqual([]);
  });

  test("delete cleans a leftover mount and id of a container a crash left unlisted", async () => {
    env = makeEnv();
    await api.createSandbox(env.ctx, { id: "sb", containers: [containerConfig("c1", env.bundle("b1"))] });
    // Simulate a crash after the mount but before the container was recorded in the sandbox state.
    const stateFile = sandboxStateFile(env.root, "sb");
    writeFileSync(stateFile, JSON.stringify({ ...readJsonFile(stateFile), containers: [] }));
    expect(mountsUnder(join(env.root, "sandboxes", "sb"))).toHaveLength(1);
    await api.deleteSandbox(env.ctx, "sb");
    expect(mountsUnder(env.dir)).toEqual([]);
    expect(existsSync(join(env.root, "containers", "c1"))).toBe(false);
    // The bundle's rootfs survived (never removed through the mount).
    expect(existsSync(join(env.dir, "b1", "rootfs", "marker"))).toBe(true);
  });

  test("a leftover mount where a container's share goes is cleared, not mounted over", async () => {
    env = makeEnv();
    await api.createSandbox(env.ctx, { id: "sb", containers: [] });
    const target = join(env.root, "sandboxes", "sb", "shared", "c1", "rootfs");
    mkdirSync(target, { recursive: true });
    await execa("mount", ["--bind", join(env.bundle("old"), "rootfs"), target]);
    await api.createContainer(env.ctx, "sb", containerConfig("c1", env.bundle("b1")));
    expect(mountsUnder(target)).toEqual([target]);
    expect(readFileSync(join(target, "marker"), "utf8")).toBe("b1");
    await api.deleteSandbox(env.ctx, "sb");
    expect(mountsUnder(env.dir)).toEqual([]);
  });
});

describe.skipIf(!root)("storage plugin through the core API (root)", () => {
  test("the guest spec gets the 9p path, the host bind is read-only, delete leaves no mount", async () => {
    const host = tempDir("husk-vol-");
    mkdirSync(join(host, "vol"));
    writeFileSync(join(host, "vol", "f"), "data");
    const lifecycle = await createLifecycle({ config: { plugins: {} }, bundled: [storage] });
    env = makeEnv({ lifecycle });
    const spec: OciSpec = {
      ...minimalSpec(),
      mounts: [{ destination: "/vol", type: "bind", source: join(host, "vol"), options: ["rbind", "ro"] }],
    };
    await api.createSandbox(env.ctx, { id: "sb", containers: [containerConfig("c1", env.bundle("b1", spec), spec)] });
    const sbDir = join(env.root, "sandboxes", "sb");
    const record = JSON.parse(readFileSync(join(sbDir, "containers", "c1", "config.json"), "utf8"));
    expect(record.guestSpec.mounts[0].source).toBe("/run/husk/shared/c1/mounts/0/vol");
    const target = join(sbDir, "shared", "c1", "mounts", "0", "vol");
    expect(readFileSync(join(target, "f"), "utf8")).toBe("data");
    expect(() => writeFileSync(join(target, "g"), "x")).toThrow(/EROFS|read-only/i);
    await api.deleteContainer(env.ctx, "sb", "c1");
    expect(mountsUnder(sbDir).filter((p) => p.includes("/mounts"))).toEqual([]);
    expect(readFileSync(join(host, "vol", "f"), "utf8")).toBe("data");
  });
});
