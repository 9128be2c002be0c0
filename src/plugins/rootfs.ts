import { resolve } from "node:path";
import { GUEST_SHARED_DIR } from "../host/layout.ts";

/** Where the guest sees the sandbox's shared directory (the core rewrites root.path under it). */
export { GUEST_SHARED_DIR };

/**
 * The host path of a container's rootfs. The core has rewritten root.path to
 * the guest path by the time plugins run, so read what the bundle's own
 * config.json says; fall back to the spec when it is still a host path.
 */
export async function hostRootfs(bundle: string, specRootPath: string | undefined): Promise<string | undefined> {
  if (specRootPath && !specRootPath.startsWith(`${GUEST_SHARED_DIR}/`)) return resolve(bundle, specRootPath);
  try {
    const original = (await Bun.file(resolve(bundle, "config.json")).json()) as { root?: { path?: unknown } };
    const p = original.root?.path;
    return typeof p === "string" && p ? resolve(bundle, p) : undefined;
  } catch {
    return undefined;
  }
}
