import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { ContainerPhaseContext, Lifecycle } from "../../../src/core/ports.ts";
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

/**
 * Both create-time points, as the core calls them: containerCreate (plugins,
 * may amend the spec) before the guest creates the container, then
 * containerCreated (OCI create-time hooks, network:attach) with the
 * container created and its pid.
 */
export async function createPhases(lc: Lifecycle, ctx: ContainerPhaseContext, pid = 4242): Promise<OciSpec> {
  const spec = await lc.containerCreate(ctx);
  await lc.containerCreated({ ...ctx, spec, state: { ...ctx.state, status: "created", pid } });
  return spec;
}
