import { mkdirSync, readFileSync } from "node:fs";
import { AgentError } from "../../host/errors.ts";
import { mountFs, reseedKernelRng, setHostname, setRealtimeClock } from "../../host/ffi/process.ts";
import { logger } from "../../host/log.ts";
import type { MethodRequest } from "../protocol.ts";
import { parseMountPoints, type MountSpec } from "./mounts.ts";

/**
 * What a VM cloned from a template redoes before it runs anything
 * (cloneInit): all clones start from the template's memory, so they share
 * its CRNG state, its clock and its hostname until these run; and the
 * sandbox's 9p share is mounted only now, because QEMU refuses to save a VM
 * with a 9p share mounted.
 */

const log = logger("agent-clone");

export type CloneInitRequest = MethodRequest<"cloneInit">;

export async function cloneInit(req: CloneInitRequest, shared: MountSpec): Promise<void> {
  const entropy = Buffer.from(req.entropy, "base64");
  if (entropy.length < 32) throw new AgentError(`cloneInit: ${entropy.length} bytes of entropy, need at least 32`);
  step("reseed the kernel RNG", () => reseedKernelRng(entropy));
  step("set the clock", () => setRealtimeClock(req.unixTimeMs));
  step("set the hostname", () => setHostname(req.hostname));
  if (!mountedAt(shared.target)) {
    mkdirSync(shared.target, { recursive: true });
    step(`mount the ${shared.source} share on ${shared.target}`, () =>
      mountFs(shared.source, shared.target, shared.type, shared.options ?? ""),
    );
  }
  log.info(`clone initialised: hostname ${req.hostname}, share on ${shared.target}`);
}

function step(what: string, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    throw new AgentError(`cloneInit: cannot ${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function mountedAt(target: string): boolean {
  try {
    return parseMountPoints(readFileSync("/proc/self/mountinfo", "utf8")).has(target);
  } catch {
    return false;
  }
}
