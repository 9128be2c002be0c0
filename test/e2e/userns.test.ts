import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { canRun, husk, makeBundle, makeEnv, type E2eEnv } from "./env.ts";

/**
 * A container in a user namespace: in the guest it runs as a mapped,
 * non-root uid, which must still reach its rootfs through the 9p share
 * (found by runtime-tools linux_uid_mappings: the shared tree was 0700).
 */

let env: E2eEnv;

describe.skipIf(!canRun)("user namespaces in the guest", () => {
  beforeAll(() => {
    env = makeEnv("userns");
  });
  afterAll(async () => {
    await env.cleanup();
  });

  test("root in the container is uid 1000 outside it", { timeout: 300_000 }, async () => {
    const bundle = makeBundle(env, "b1", ["sh", "-c", "echo uid=$(id -u); cat /proc/self/uid_map"]);
    const file = join(bundle, "config.json");
    const spec = JSON.parse(readFileSync(file, "utf8"));
    spec.linux.namespaces.push({ type: "user" });
    spec.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
    spec.linux.gidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
    // As `runc spec --rootless` does: gid 5 is not mapped, and cgroupfs is not ours to mount.
    for (const m of spec.mounts) if (m.type === "devpts") m.options = m.options.filter((o: string) => o !== "gid=5");
    spec.mounts = spec.mounts.filter((m: { destination: string }) => m.destination !== "/sys/fs/cgroup");
    writeFileSync(file, JSON.stringify(spec));

    const run = await husk(env, ["run", "--bundle", bundle, "u1"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("uid=0");
    expect(run.stdout).toMatch(/^\s*0\s+1000\s+1\s*$/m);
  });
});
