import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ContainerConfig } from "../../../src/core/api.ts";
import { createTestContext, type TestContext, type TestContextOptions } from "../../support/context.ts";
import { removeTree } from "../../../src/host/mounts.ts";
import { readMockVmState } from "../../../src/hypervisor/mock/state.ts";
import { isProcessAlive } from "../../../src/host/proc.ts";
import type { OciSpec } from "../../../src/oci/spec.ts";

/** Shared fixtures for the core tests: temp roots, bundles, mock contexts. */

export const REPO = join(import.meta.dir, "../../..");
export const FIXTURES = join(REPO, "test/fixtures/core");

export function tempDir(prefix = "husk-core-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function minimalSpec(args: string[] = ["/bin/sh"]): OciSpec {
  return {
    ociVersion: "1.0.2",
    process: { terminal: false, user: { uid: 0, gid: 0 }, args, cwd: "/" },
    root: { path: "rootfs" },
    linux: { namespaces: [{ type: "pid" }, { type: "mount" }] },
  };
}

/** A bundle directory with config.json and an (empty but real) rootfs. */
export function makeBundle(parent: string, name: string, spec: OciSpec = minimalSpec()): string {
  const dir = join(parent, name);
  mkdirSync(join(dir, "rootfs", "bin"), { recursive: true });
  writeFileSync(join(dir, "rootfs", "marker"), name);
  writeFileSync(join(dir, "config.json"), JSON.stringify(spec));
  return dir;
}

export function containerConfig(id: string, bundle: string, spec: OciSpec = minimalSpec()): ContainerConfig {
  return { id, bundle, spec, io: { terminal: false, detach: true } };
}

export interface Env {
  dir: string;
  root: string;
  ctx: TestContext;
  bundle(name: string, spec?: OciSpec): string;
  cleanup(): Promise<void>;
}

/** A temp dir holding a state root and bundles, with a mock context on it. */
export function makeEnv(options: Omit<TestContextOptions, "root"> = {}): Env {
  const dir = tempDir();
  const root = join(dir, "root");
  const ctx = createTestContext({ ...options, root });
  return {
    dir,
    root,
    ctx,
    bundle: (name, spec) => makeBundle(dir, name, spec),
    cleanup: async () => {
      killPlaceholders(root);
      await removeTree(dir); // unmounts first: never deletes through a bind mount
    },
  };
}

/** Kill mock VM placeholder processes a failed test left behind. */
export function killPlaceholders(root: string): void {
  let sids: string[] = [];
  try {
    sids = readdirSync(join(root, "sandboxes"));
  } catch {
    return;
  }
  for (const sid of sids) {
    const st = readMockVmState(join(root, "sandboxes", sid));
    if (st?.pid && st.pid !== process.pid && isProcessAlive(st.pid, st.pidStart)) process.kill(st.pid, "SIGKILL");
  }
}

/** Expect a promise to reject with a HuskError of this code; returns the error. */
export async function rejectsWith(p: Promise<unknown>, code: string): Promise<Error & { code: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as Error & { code: string };
    if (err.code !== code) throw new Error(`expected ${code}, got ${err.code ?? "no code"}: ${err.message}`);
    return err;
  }
  throw new Error(`expected ${code}, but it resolved`);
}

/** Stored JSON, untyped: tests index into it freely. */
export function readJsonFile(path: string): any {
  return JSON.parse(readFileSync(path, "utf8"));
}
