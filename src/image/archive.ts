/**
 * One file that carries a built guest image from a build machine to a fleet:
 * `husk image export FILE` and `husk image import FILE`.
 *
 * The archive is a tar (node-tar) compressed with zstd (in process, through
 * Bun's zlib: a production host needs neither tar nor zstd installed). Its
 * first entry is manifest.json (the image's own manifest: every file with its
 * size and sha256, and the husk version and commit whose agent is inside);
 * then each file the manifest lists, and nothing else.
 *
 * Import reads the manifest first and refuses an image made for another
 * husk before writing anything; it then writes every file into a new
 * directory beside the installed one, checking each size and hash as the
 * bytes arrive, and only when all of them match does it swap the new
 * directory with the installed one in one renameat2(RENAME_EXCHANGE). The
 * previous image stays at <dir>.previous (VMs started from it keep working;
 * it is the way back). Anything wrong leaves the installed image untouched.
 */
import { closeSync, createReadStream, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, writeSync } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { constants as zlib } from "node:zlib";
import { create, Parser, type ReadEntry } from "tar";
import { HuskError, ImageCorruptError, ImageError, ImageVersionError, IoError, NotFoundError } from "../host/errors.ts";
import { exchangePaths } from "../host/ffi/rename.ts";
import { logger } from "../host/log.ts";
import { COMMIT, VERSION } from "../host/version.ts";
import { sha256File } from "./hash.ts";
import { type ImageManifest, MANIFEST_FILE, parseImageManifest, readImageManifest, writeImageManifest } from "./manifest.ts";

const log = logger("image");

/** zstd level 9: the husk binary (≈110 MB) packs to ≈47 MB in ≈3 s; 19 saves 2% more for 10× the time. */
const ZSTD_LEVEL = 9;
/** manifest.json is a few KiB; anything this large is not one. */
const MAX_MANIFEST_BYTES = 1024 * 1024;

/** The husk an image's agent belongs to: the importing husk must be this very build. */
export interface HuskBuild {
  version: string;
  commit: string;
}
export const THIS_HUSK: HuskBuild = { version: VERSION, commit: COMMIT };

/** The files an image needs to boot a container: kernel, initramfs, agent. */
export function requiredFiles(m: ImageManifest): string[] {
  const need = [m.kernel.path];
  if (m.initrd) need.push(m.initrd.path);
  if (m.agentDir) need.push(`${m.agentDir}/husk`);
  return need;
}

/** A manifest that can travel: complete (not kernel-only) and naming each of its files once. */
export function checkExportable(m: ImageManifest, where: string): void {
  if (!m.initrd || !m.agentDir) {
    throw new ImageError(
      `the image in ${where} has no ${!m.initrd ? "initramfs" : "agent"} (a --kernel-only build?): run \`husk image build\` first`,
    );
  }
  const paths = m.files.map((f) => f.path);
  const dup = paths.find((p, i) => paths.indexOf(p) !== i);
  if (dup) throw new ImageError(`the image manifest in ${where} lists ${dup} twice`);
  if (paths.includes(MANIFEST_FILE)) throw new ImageError(`the image manifest in ${where} lists ${MANIFEST_FILE} as a file`);
  for (const p of requiredFiles(m)) {
    if (!paths.includes(p)) throw new ImageError(`the image manifest in ${where} does not list ${p}`);
  }
}

/** Refuse an image whose agent is another husk's (the agent protocol is not versioned across builds). */
export function checkVersion(m: ImageManifest, self: HuskBuild = THIS_HUSK): void {
  if (m.husk.version === self.version && m.husk.commit === self.commit) return;
  throw new ImageVersionError(
    `the image was built for husk ${m.husk.version} (${m.husk.commit}), this is husk ${self.version} (${self.commit}): ` +
      "export an image built by this husk (`husk image build --output DIR` then `husk image export`)",
    { details: { image: m.husk, husk: self } },
  );
}

export interface ExportResult {
  file: string;
  size: number;
  sha256: string;
  husk: HuskBuild;
  kernel: string;
  files: number;
}

/** Write the image in `dir` to `file` (via file.tmp + rename), after checking every file's hash. */
export async function exportImage(dir: string, file: string): Promise<ExportResult> {
  const m = await readImageManifest(dir);
  checkExportable(m, dir);
  for (const f of m.files) {
    const path = join(dir, f.path);
    const st = await stat(path).catch((cause: unknown) => {
      throw new ImageError(`${path} is missing: the image in ${dir} is incomplete`, { cause });
    });
    if (st.size !== f.size || (await sha256File(path)) !== f.sha256) {
      throw new ImageCorruptError(`${path} does not match its manifest entry: rebuild the image before exporting it`, {
        details: { path },
      });
    }
  }
  const out = resolve(file);
  const tmp = `${out}.tmp-${process.pid}`;
  log.debug(`exporting ${dir} to ${out}`);
  try {
    await create(
      {
        file: tmp,
        cwd: dir,
        portable: true, // no uid/gid/user names: the archive says nothing about the build machine's users
        // node:zlib's zstd options (minizlib passes them through; its types know only zlib's).
        // A checksum per frame: a flipped byte fails decompression, not only a file's hash.
        zstd: { params: { [zlib.ZSTD_c_compressionLevel]: ZSTD_LEVEL, [zlib.ZSTD_c_checksumFlag]: 1 } } as { level?: number },
        strict: true,
      },
      [MANIFEST_FILE, ...m.files.map((f) => f.path)],
    );
    const fd = openSync(tmp, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    await rename(tmp, out);
  } catch (e) {
    await rm(tmp, { force: true });
    if (e instanceof HuskError) throw e;
    throw new IoError(`cannot write ${out}: ${(e as Error).message}`, { cause: e });
  }
  const st = await stat(out);
  return {
    file: out,
    size: st.size,
    sha256: await sha256File(out),
    husk: m.husk,
    kernel: `${m.kernel.kind} ${m.kernel.version}`,
    files: m.files.length,
  };
}

export interface ImportResult {
  /** The image directory now holding the imported image. */
  dir: string;
  /** Where the image it replaced now is (undefined when there was none). */
  previous?: string;
  manifest: ImageManifest;
}

export interface ImportOptions {
  /** The husk build the image must be made for (tests). */
  self?: HuskBuild;
}

/**
 * Verify `file` completely, then install it as the image in `dir`. Errors:
 * E_NOT_FOUND (no such file), E_IMAGE_VERSION (made for another husk),
 * E_IMAGE_CORRUPT (truncated, malformed, wrong hash or size, extra or
 * missing files), E_IO (cannot write). The installed image is untouched on
 * every error.
 */
export async function importImage(file: string, dir: string, options: ImportOptions = {}): Promise<ImportResult> {
  const archive = resolve(file);
  const target = resolve(dir);
  const st = await stat(archive).catch((cause: unknown) => {
    throw new NotFoundError(`image archive ${archive} does not exist`, { cause });
  });
  if (!st.isFile()) throw new ImageError(`image archive ${archive} is not a file`);
  // Swap only an image for an image: a mistyped --dir must not move /boot aside.
  if (existsSync(target) && !existsSync(join(target, MANIFEST_FILE)) && readdirSync(target).length > 0) {
    throw new ImageError(`${target} exists and holds no husk image (no ${MANIFEST_FILE}): refusing to replace it`);
  }
  await mkdir(dirname(target), { recursive: true });
  const staging = join(dirname(target), `.${basename(target)}.import-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { mode: 0o755 });
  try {
    const { manifest, archiveSha256 } = await unpackVerified(archive, staging, options.self ?? THIS_HUSK);
    const built = manifest.origin?.kind === "built" ? { host: manifest.origin.host, at: manifest.origin.at } : manifest.origin?.built;
    const installed: ImageManifest = {
      ...manifest,
      origin: { kind: "imported", file: archive, archiveSha256, at: new Date().toISOString(), ...(built ? { built } : {}) },
    };
    await writeImageManifest(staging, installed);
    syncDir(staging);
    const previous = await swapIn(staging, target);
    log.debug(`imported ${archive} into ${target}${previous ? ` (previous image at ${previous})` : ""}`);
    return { dir: target, ...(previous ? { previous } : {}), manifest: installed };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Put the verified `staging` at `target` in one step; the image it replaces goes to <target>.previous. */
async function swapIn(staging: string, target: string): Promise<string | undefined> {
  const exists = await stat(target).then(
    () => true,
    () => false,
  );
  try {
    if (!exists) {
      await rename(staging, target);
      syncDir(dirname(target));
      return undefined;
    }
    exchangePaths(staging, target);
    syncDir(dirname(target));
  } catch (e) {
    throw new IoError(`cannot install the image into ${target}: ${(e as Error).message}`, { cause: e });
  }
  // staging now holds the old image: keep it one generation.
  const previous = `${target}.previous`;
  try {
    await rm(previous, { recursive: true, force: true });
    await rename(staging, previous);
    return previous;
  } catch (e) {
    log.warn(`the new image is installed, but the previous one could not be kept at ${previous}: ${(e as Error).message}`);
    return undefined;
  }
}

function syncDir(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

const corrupt = (archive: string, what: string, details?: Record<string, unknown>) =>
  new ImageCorruptError(`image archive ${archive} is corrupt: ${what}`, details ? { details } : {});

/**
 * Stream the archive into `dest`, checking as it goes: manifest.json first
 * (schema, version, completeness), then exactly the files it lists, each of
 * its size and hash. Resolves with the archive's manifest and sha256.
 */
function unpackVerified(archive: string, dest: string, self: HuskBuild): Promise<{ manifest: ImageManifest; archiveSha256: string }> {
  return new Promise((resolvePromise, reject) => {
    let failure: HuskError | undefined;
    let manifest: ImageManifest | undefined;
    let expected = new Map<string, { size: number; sha256: string }>();
    const seen = new Set<string>();
    const archiveHash = new Bun.CryptoHasher("sha256");

    const parser = new Parser({ strict: true, maxMetaEntrySize: MAX_MANIFEST_BYTES });
    const input = createReadStream(archive);
    /** The file being written, closed here if the archive fails mid-entry. */
    let openFd: number | undefined;
    const closeOpen = () => {
      if (openFd === undefined) return;
      try {
        closeSync(openFd);
      } catch {
        // already closed
      }
      openFd = undefined;
    };
    const fail = (e: unknown) => {
      if (failure) return;
      failure =
        e instanceof HuskError ? e : corrupt(archive, `cannot read it as a zstd-compressed tar (truncated?): ${(e as Error).message}`);
      closeOpen();
      input.destroy();
      parser.abort(failure);
      reject(failure);
    };

    parser.on("entry", (entry: ReadEntry) => {
      if (failure) return void entry.resume();
      try {
        onEntry(entry);
      } catch (e) {
        fail(e);
        entry.resume();
      }
    });

    const onEntry = (entry: ReadEntry) => {
      const path = entry.path;
      if (entry.type !== "File" && entry.type !== "OldFile")
        throw corrupt(archive, `unexpected ${entry.type} entry ${JSON.stringify(path)}`);
      if (!manifest) {
        if (path !== MANIFEST_FILE) throw corrupt(archive, `the first entry is ${JSON.stringify(path)}, not ${MANIFEST_FILE}`);
        if (entry.size > MAX_MANIFEST_BYTES) throw corrupt(archive, `${MANIFEST_FILE} is ${entry.size} bytes`);
        const chunks: Buffer[] = [];
        entry.on("data", (c: Buffer) => chunks.push(c));
        entry.on("end", () => {
          try {
            let data: unknown;
            try {
              data = JSON.parse(Buffer.concat(chunks).toString("utf8"));
            } catch {
              throw corrupt(archive, `${MANIFEST_FILE} is not JSON`);
            }
            let m: ImageManifest;
            try {
              m = parseImageManifest(data, `${archive}:${MANIFEST_FILE}`);
              checkExportable(m, archive);
            } catch (e) {
              throw corrupt(archive, (e as Error).message);
            }
            checkVersion(m, self); // before a single image byte is written
            manifest = m;
            expected = new Map(m.files.map((f) => [f.path, { size: f.size, sha256: f.sha256 }]));
          } catch (e) {
            fail(e);
          }
        });
        return;
      }
      const want = expected.get(path);
      if (!want) throw corrupt(archive, `${JSON.stringify(path)} is not in its manifest`);
      if (seen.has(path)) throw corrupt(archive, `${path} appears twice`);
      seen.add(path);
      if (entry.size !== want.size) throw corrupt(archive, `${path} is ${entry.size} bytes, its manifest says ${want.size}`, { path });
      writeEntry(entry, join(dest, path), path, want);
    };

    const writeEntry = (entry: ReadEntry, out: string, path: string, want: { size: number; sha256: string }) => {
      // Paths were checked by the manifest schema (relative, no ..) and matched against it.
      mkdirSync(dirname(out), { recursive: true });
      const fd = openSync(out, "wx", (entry.mode ?? 0o644) & 0o755);
      openFd = fd;
      const h = new Bun.CryptoHasher("sha256");
      let written = 0;
      entry.on("data", (c: Buffer) => {
        if (failure) return;
        try {
          h.update(c);
          written += c.length;
          writeSync(fd, c);
        } catch (e) {
          fail(new IoError(`cannot write ${out}: ${(e as Error).message}`, { cause: e }));
        }
      });
      entry.on("end", () => {
        try {
          if (!failure) fsyncSync(fd);
        } catch (e) {
          fail(new IoError(`cannot write ${out}: ${(e as Error).message}`, { cause: e }));
        } finally {
          closeOpen();
        }
        if (failure) return;
        if (written !== want.size) return fail(corrupt(archive, `${path} is truncated (${written} of ${want.size} bytes)`, { path }));
        const got = h.digest("hex");
        if (got !== want.sha256) fail(corrupt(archive, `${path} has sha256 ${got}, its manifest says ${want.sha256}`, { path }));
      });
    };

    parser.on("error", (e: unknown) => fail(e));
    input.on("data", (c) => archiveHash.update(c as Buffer));
    input.on("error", (e) => fail(new IoError(`cannot read ${archive}: ${e.message}`, { cause: e })));
    parser.on("close", () => {
      if (failure) return;
      if (!manifest) return reject(corrupt(archive, `no ${MANIFEST_FILE} (not a husk image archive?)`));
      const missing = [...expected.keys()].filter((p) => !seen.has(p));
      if (missing.length > 0) return reject(corrupt(archive, `missing ${missing.join(", ")} (truncated?)`, { missing }));
      resolvePromise({ manifest, archiveSha256: archiveHash.digest("hex") });
    });
    input.pipe(parser as unknown as NodeJS.WritableStream);
  });
}
