/**
 * manifest.json of a guest image: what is in the directory, how it was made,
 * and how to boot it. Written by build.ts, read back (validated) by the QEMU
 * driver through readImageManifest.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as v from "valibot";
import { ImageError, NotFoundError } from "../host/errors.ts";
import { writeFileAtomic } from "../host/json-file.ts";

export const MANIFEST_FILE = "manifest.json";
export const MANIFEST_SCHEMA_VERSION = 1;

const Sha256 = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, "must be a sha256 in hex"));
const RelPath = v.pipe(
  v.string(),
  v.regex(/^[^/].*$/, "must be relative to the image directory"),
  v.check((p) => !p.split("/").includes(".."), "must not contain .."),
);

export const ImageFileSchema = v.strictObject({
  path: RelPath,
  size: v.pipe(v.number(), v.integer(), v.minValue(0)),
  sha256: Sha256,
});

const Stamp = v.strictObject({
  /** Host name of the machine. */
  host: v.pipe(v.string(), v.maxLength(255)),
  /** ISO 8601 time. */
  at: v.pipe(v.string(), v.isoTimestamp()),
});

/**
 * Where the image in this directory came from: built on this or another
 * machine (`husk image build`), or imported from an archive (`husk image
 * import`), with the build it carries. Shown by `husk check`.
 */
export const ImageOriginSchema = v.variant("kind", [
  v.strictObject({ kind: v.literal("built"), ...Stamp.entries }),
  v.strictObject({
    kind: v.literal("imported"),
    /** The archive as named on the importing host (absolute path). */
    file: v.pipe(v.string(), v.maxLength(4096)),
    archiveSha256: Sha256,
    at: v.pipe(v.string(), v.isoTimestamp()),
    /** Where and when the image was built, when the archive said. */
    built: v.optional(Stamp),
  }),
]);

export const ImageManifestSchema = v.strictObject({
  schemaVersion: v.literal(MANIFEST_SCHEMA_VERSION),
  husk: v.strictObject({ version: v.string(), commit: v.string() }),
  kernel: v.strictObject({
    path: RelPath,
    kind: v.picklist(["minimal", "debian-fallback"]),
    /** vmlinux boots through PVH (-kernel of an ELF); bzImage through the setup header. */
    format: v.picklist(["vmlinux", "bzImage"]),
    version: v.string(),
    /** Fallback only: why the minimal kernel was not used. */
    fallbackReason: v.optional(v.string()),
  }),
  initrd: v.optional(
    v.strictObject({
      path: RelPath,
      compression: v.picklist(["none", "lz4"]),
    }),
  ),
  /** Directory exported read-only over 9p as "husk-agent" (VmSpec.agentDir); holds `husk`. */
  agentDir: v.optional(RelPath),
  /** Machine type the image was measured on. */
  machine: v.picklist(["microvm", "q35", "pc"]),
  /**
   * Kernel parameters the image needs (before the driver's own; the driver
   * adds tsc_early_khz= from the host and anything machine-specific).
   */
  kernelParams: v.array(v.string()),
  /** Guest modules loaded by the init (fallback kernel), for information. */
  modules: v.array(v.string()),
  files: v.array(ImageFileSchema),
  /** Hashes of each step's inputs: equal → the step is skipped on rebuild. */
  inputs: v.strictObject({
    kernel: v.string(),
    initramfs: v.optional(v.string()),
    agent: v.optional(v.string()),
  }),
  origin: v.optional(ImageOriginSchema),
});

export type ImageManifest = v.InferOutput<typeof ImageManifestSchema>;
export type ImageFile = v.InferOutput<typeof ImageFileSchema>;
export type ImageOrigin = v.InferOutput<typeof ImageOriginSchema>;

export function parseImageManifest(data: unknown, where = MANIFEST_FILE): ImageManifest {
  const r = v.safeParse(ImageManifestSchema, data);
  if (!r.success) {
    const issues = r.issues.map((i) => `${v.getDotPath(i) ?? "(root)"}: ${i.message}`).join("; ");
    throw new ImageError(`invalid image manifest ${where}: ${issues}`);
  }
  return r.output;
}

/** Read and validate <dir>/manifest.json. NotFoundError if there is no image there. */
export async function readImageManifest(dir: string): Promise<ImageManifest> {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    throw new NotFoundError(`no guest image in ${dir} (${path} is missing): run \`husk image build\``, { cause });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (cause) {
    throw new ImageError(`invalid image manifest ${path}: not JSON`, { cause });
  }
  return parseImageManifest(data, path);
}

/** Same bytes for the same manifest: keys in schema order, 2-space indent. */
export function serializeManifest(m: ImageManifest): string {
  return `${JSON.stringify(parseImageManifest(m), null, 2)}\n`;
}

export async function writeImageManifest(dir: string, m: ImageManifest): Promise<void> {
  writeFileAtomic(join(dir, MANIFEST_FILE), serializeManifest(m), 0o644);
}
