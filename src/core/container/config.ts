import { checkNamespacePaths } from "../../oci/namespaces.ts";
import { isAbsolute } from "node:path";
import { BundleError, InvalidSpecError, UsageError } from "../../host/errors.ts";
import { validateId } from "../../host/ids.ts";
import { LaunchIoSchema, type LaunchIo } from "../ports.ts";
import { AnnotationsSchema, SpecSchema, type OciSpec } from "../../oci/spec.ts";
import { parseOr, parseValid } from "../../host/valid.ts";

/** A container as the caller asks for it, checked at the boundary before anything is touched. */

/** What the caller asks for: the bundle already loaded by src/oci/bundle.ts. */
export interface ContainerConfig {
  id: string;
  /** Absolute bundle directory. */
  bundle: string;
  spec: OciSpec;
  io: LaunchIo;
  annotations?: Record<string, string>;
}

/** Check a caller's container config at the boundary: id, spec and io (nothing touched yet). */
export function validateContainerConfig(config: ContainerConfig): ContainerConfig {
  validateId(config.id, "container id");
  const spec = parseValid(SpecSchema, config.spec, InvalidSpecError, `container ${config.id}: config.json`);
  if (config.annotations !== undefined) {
    parseOr(
      AnnotationsSchema,
      config.annotations,
      ({ message }) => new InvalidSpecError(`container ${config.id}: annotations: ${message}`, { details: { path: "annotations" } }),
    );
  }
  const io = parseValid(LaunchIoSchema, config.io, UsageError, `container ${config.id}: io`);
  if (typeof config.bundle !== "string" || !isAbsolute(config.bundle)) {
    throw new BundleError(`container ${config.id}: bundle must be an absolute path`, { details: { bundle: config.bundle } });
  }
  checkNamespacePaths(spec);
  return { ...config, spec, io };
}
