import { statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { BundleError, InvalidSpecError } from "../host/errors.ts";
import { describeSize, jsonTextDepthProblem, LIMITS, overLimit, readBounded } from "./limits.ts";
import { SpecSchema, type OciSpec } from "./spec.ts";
import { parseOr } from "../host/valid.ts";

/**
 * Load a bundle: <bundle>/config.json validated against the OCI schema (bad
 * field → E_INVALID_SPEC naming its JSON path), root.path present and the
 * rootfs an existing directory (E_BUNDLE otherwise). Sizes are bounded here,
 * at the door (./limits.ts): a file over the limit is refused from its size,
 * before it is read; nesting before it is parsed; the rest by the schema.
 */

export interface LoadedBundle {
  /** Absolute bundle directory. */
  bundle: string;
  spec: OciSpec;
  /** Absolute host path of the rootfs (root.path resolved against the bundle). */
  rootfs: string;
}

/** Validate a parsed config.json; pure. */
export function parseSpec(json: unknown, source: string): OciSpec {
  return parseOr(
    SpecSchema,
    json,
    ({ path, at, message }) =>
      new InvalidSpecError(`${source}: ${path ? `${path}: ` : ""}${message}`, { details: { file: source, path: at } }),
  );
}

export function rootfsOf(bundle: string, spec: OciSpec): string {
  const root = spec.root?.path;
  if (!root) throw new InvalidSpecError("config.json: root.path is required", { details: { path: "root.path" } });
  return isAbsolute(root) ? root : resolve(bundle, root);
}

export function loadBundle(bundleDir: string): LoadedBundle {
  const bundle = resolve(bundleDir);
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(bundle);
  } catch (e) {
    throw new BundleError(`bundle ${bundle} not found`, { cause: e, details: { bundle } });
  }
  if (!st.isDirectory()) throw new BundleError(`bundle ${bundle} is not a directory`, { details: { bundle } });
  const file = `${bundle}/config.json`;
  let read: ReturnType<typeof readBounded>;
  try {
    read = readBounded(file, LIMITS.configFileBytes);
  } catch (e) {
    throw new BundleError(`cannot read ${file}: ${(e as Error).message}`, { cause: e, details: { bundle } });
  }
  if (!read.ok) {
    throw new InvalidSpecError(`${file} ${describeSize(read)}, ${overLimit(LIMITS.configFileBytes)}`, {
      details: { file, limit: LIMITS.configFileBytes, bytes: read.bytes },
    });
  }
  const text = read.text;
  const deep = jsonTextDepthProblem(text, file);
  if (deep) throw new InvalidSpecError(deep, { details: { file, limit: LIMITS.jsonDepth } });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InvalidSpecError(`${file}: not valid JSON: ${(e as Error).message}`, { cause: e, details: { file } });
  }
  const spec = parseSpec(json, file);
  const rootfs = rootfsOf(bundle, spec);
  let rst: ReturnType<typeof statSync> | undefined;
  try {
    rst = statSync(rootfs);
  } catch {
    rst = undefined;
  }
  if (!rst?.isDirectory()) throw new BundleError(`rootfs ${rootfs} does not exist or is not a directory`, { details: { bundle, rootfs } });
  return { bundle, spec, rootfs };
}
