import { existsSync, realpathSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { MANIFEST_FILE, readImageManifest, type ImageManifest } from "../../image/manifest.ts";
import { logger } from "../../host/log.ts";
import type { VmSpec } from "../types.ts";

/**
 * The guest image's own boot needs: when spec.kernel sits in an image
 * directory (manifest.json next to it, naming that kernel), the manifest's
 * kernel params go before the configured ones. Pure merge + one small read.
 */

const log = logger("qemu");

export async function imageManifestFor(kernel: string): Promise<ImageManifest | undefined> {
  const dir = dirname(kernel);
  if (!existsSync(join(dir, MANIFEST_FILE))) return undefined;
  const manifest = await readImageManifest(dir);
  if (!samePath(resolve(dir, manifest.kernel.path), kernel)) return undefined; // a manifest about another kernel
  return manifest;
}

/**
 * Image params first (what the image needs), then the spec's (config), so
 * config can add to or override them; the agent comes from the image's agent
 * directory unless the spec names one.
 */
export function withImageParams(spec: VmSpec, manifest: ImageManifest | undefined): VmSpec {
  if (!manifest) return spec;
  const agentDir = spec.agentDir ?? (manifest.agentDir ? resolve(dirname(spec.kernel), manifest.agentDir) : undefined);
  if (manifest.machine !== spec.machine.split(",")[0]) {
    log.warn(`guest image was measured on machine ${manifest.machine}, configured machine is ${spec.machine}`);
  }
  const params = [...manifest.kernelParams.filter((p) => !spec.kernelParams.includes(p)), ...spec.kernelParams];
  return { ...spec, kernelParams: params, ...(agentDir ? { agentDir } : {}) };
}

function samePath(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}
