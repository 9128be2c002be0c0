import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import { join } from "node:path";
import { buildQemuArgs } from "../hypervisor/qemu/args.ts";
import type { HostFacts } from "../hypervisor/qemu/host.ts";
import { imageManifestFor, withImageParams } from "../hypervisor/qemu/image.ts";
import { resolveBinary } from "../hypervisor/qemu/probe.ts";
import type { VmSpec } from "../hypervisor/types.ts";
import { VERSION } from "../host/version.ts";
import { templateSpec } from "./spec.ts";

/**
 * A template's key: everything that must match for a clone to be correct.
 * The QEMU command line of the template (canonical paths) carries the
 * machine, vCPUs, memory, kernel command line, accelerator and device set;
 * the identity (device, inode, size, mtime) of the QEMU binary, kernel,
 * initramfs, agent and disk image catches a rebuilt image or an upgraded
 * QEMU without hashing hundreds of MB on every create; husk's version
 * catches a new agent protocol.
 */

/** Paths in the canonical command line: the key must not depend on where a template is built. */
const CANON_DIR = "/husk-template";

export interface TemplateInputs {
  argv: string[];
  files: Record<string, string>;
  husk: string;
}

export interface TemplateKey {
  key: string;
  inputs: TemplateInputs;
}

export async function templateKey(spec: VmSpec, host: HostFacts): Promise<TemplateKey> {
  const merged = withImageParams(spec, await imageManifestFor(spec.kernel).catch(() => undefined));
  const argv = buildQemuArgs(templateSpec(merged, CANON_DIR, 1), host);
  const inputs: TemplateInputs = { argv, files: fileIdentities(merged), husk: VERSION };
  const key = createHash("sha256").update(JSON.stringify(inputs)).digest("hex").slice(0, 24);
  return { key, inputs };
}

/** Identity of every file a template was made from ("missing" for one that is not there). */
export function fileIdentities(spec: VmSpec): Record<string, string> {
  const files: Record<string, string> = {
    qemu: identity(resolveBinary(spec.binary) ?? spec.binary),
    kernel: identity(spec.kernel),
  };
  if (spec.initrd) files.initrd = identity(spec.initrd);
  if (spec.image) files.image = identity(spec.image);
  if (spec.agentDir) files.agent = identity(join(spec.agentDir, "husk"));
  return files;
}

/** `path:dev:ino:size:mtime`, or `path:missing`. */
export function identity(path: string): string {
  try {
    const st = statSync(path);
    return `${path}:${st.dev}:${st.ino}:${st.size}:${Math.round(st.mtimeMs)}`;
  } catch {
    return `${path}:missing`;
  }
}

/** The path an identity string is of. */
export function identityPath(id: string): string {
  const parts = id.split(":");
  return parts.slice(0, parts.at(-1) === "missing" ? -1 : -4).join(":");
}
