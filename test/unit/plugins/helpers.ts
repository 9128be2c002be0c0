import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { ContainerPhaseContext } from "../../../src/lifecycle.ts";
import type { OciSpec } from "../../../src/oci/spec.ts";

export const FIXTURES = resolve(import.meta.dir, "../../fixtures/plugins");
export const fixture = (name: string) => join(FIXTURES, name);

export function tempDir(prefix = "husk-plugins-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function baseSpec(over: Partial<OciSpec> = {}): OciSpec {
  return {
    ociVersion: "1.0.2",
    root: { path: "rootfs" },
    process: { user: { uid: 0, gid: 0 }, args: ["sh"], cwd: "/" },
    ...over,
  };
}

/** A bundle on disk (config.json + rootfs/) and a sandbox dir, and a container context over them. */
export function containerCtx(spec: OciSpec = baseSpec(), id = "c1"): ContainerPhaseContext {
  const dir = tempDir();
  const bundle = join(dir, "bundle");
  const sandboxDir = join(dir, "sandbox");
  mkdirSync(join(bundle, "rootfs"), { recursive: true });
  mkdirSync(join(sandboxDir, "shared", id), { recursive: true });
  writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
  return {
    sandboxId: "s1",
    sandboxDir,
    containerId: id,
    bundle,
    spec,
    state: { ociVersion: "1.0.2", id, status: "creating", bundle, annotations: {} },
  };
}
