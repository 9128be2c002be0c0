import { accessSync, constants, statSync } from "node:fs";
import { HypervisorError } from "../host/errors.ts";
import type { VmSpec } from "./types.ts";

/**
 * What every driver's prepare checks of a spec before anything starts (the
 * hypervisor port's contract): the kernel, initramfs and disk image are
 * readable files, the sandbox, shared and agent directories exist. A bad
 * one is E_HYPERVISOR naming the file and the config key.
 */
export function checkSpecFiles(spec: VmSpec): void {
  mustRead(spec.kernel, "kernel", "hypervisor.kernel");
  if (spec.initrd) mustRead(spec.initrd, "initramfs", "hypervisor.initrd");
  if (spec.image) mustRead(spec.image, "disk image", "hypervisor.image");
  mustBeDir(spec.dir, "sandbox directory");
  mustBeDir(spec.sharedDir, "shared directory");
  if (spec.agentDir) mustBeDir(spec.agentDir, "agent directory");
}

function mustRead(path: string, what: string, key: string): void {
  try {
    if (!statSync(path).isFile()) throw new Error("not a regular file");
    accessSync(path, constants.R_OK);
  } catch (err) {
    throw new HypervisorError(`${what} ${path} not found or not readable (${key}; run \`husk image build\`?): ${(err as Error).message}`, {
      details: { path },
    });
  }
}

function mustBeDir(path: string, what: string): void {
  let ok = false;
  try {
    ok = statSync(path).isDirectory();
  } catch {
    /* missing */
  }
  if (!ok) throw new HypervisorError(`${what} ${path} does not exist or is not a directory`, { details: { path } });
}
