/**
 * Building the initramfs from host files: busybox-static, crun and its
 * libraries, the libraries and loader the husk (Bun) executable needs, the
 * init, and the fallback kernel's modules. The archive is written here
 * (cpio.ts) and optionally compressed with lz4 (legacy frame format: the
 * only lz4 format the kernel's initramfs unpacker reads).
 */
import { existsSync } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import { execa } from "execa";
import { ImageError } from "../host/errors.ts";
import { logger } from "../host/log.ts";
import { INIT_SCRIPT } from "./assets.ts";
import { cpioHeader, cpioTrailer, pad4 } from "./cpio.ts";
import { sha256File, sha256Text } from "./hash.ts";
import { ldd, requireCommand, requireFile } from "./host.ts";
import { type HostFile, type InitramfsInputs, type InitramfsPlan, planInitramfs } from "./initramfs-plan.ts";

const log = logger("image");

export const BUSYBOX = "/bin/busybox";
export const CRUN = "/usr/bin/crun";

export type InitramfsCompression = "none" | "lz4";

export interface GatherOptions {
  /** Executables whose libraries the guest needs (the husk agent); not copied themselves. */
  libsFor: string[];
  /** Kernel modules (host paths, load order) for the fallback kernel. */
  modules: string[];
  /** Extra host files to put into the image (e.g. the agent itself, for a measurement). */
  extra?: HostFile[];
  init?: string;
}

async function hostFile(source: string, dest = source, mode?: number): Promise<HostFile> {
  const st = await stat(source); // follows symlinks: the guest gets the content under `dest`
  return { source, dest, mode: mode ?? st.mode & 0o7777, size: st.size };
}

/** Find everything on the host; ImageError names the package for what is missing. */
export async function gatherInitramfsInputs(options: GatherOptions): Promise<InitramfsInputs> {
  requireFile(BUSYBOX, "busybox-static");
  requireFile(CRUN, "crun");
  requireCommand("ldd", "libc-bin");
  const bb = await ldd(BUSYBOX);
  if (!bb.isStatic) {
    throw new ImageError(`${BUSYBOX} is dynamically linked: install it with \`apt-get install -y busybox-static\``);
  }
  const list = await execa(BUSYBOX, ["--list-full"], { reject: false });
  if (list.exitCode !== 0) throw new ImageError(`${BUSYBOX} --list-full failed: ${list.stderr}`);
  const applets = list.stdout
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);

  const libs = new Set<string>();
  for (const exe of [CRUN, ...options.libsFor]) {
    for (const p of (await ldd(exe)).paths) libs.add(p);
  }
  const files: HostFile[] = [await hostFile(CRUN, CRUN, 0o755)];
  for (const lib of [...libs].sort()) files.push(await hostFile(lib));
  for (const m of options.modules) files.push(await hostFile(m, m, 0o644));
  for (const e of options.extra ?? []) files.push(e);

  return {
    init: options.init ?? INIT_SCRIPT,
    busybox: await hostFile(BUSYBOX, BUSYBOX, 0o755),
    applets,
    files,
    moduleOrder: options.modules,
  };
}

/**
 * Hash of everything that decides the archive's bytes: the entry list, the
 * content of every file, the compression. Equal hash → the file on disk is
 * still right and the build step is skipped.
 */
export async function initramfsInputsHash(plan: InitramfsPlan, compression: InitramfsCompression): Promise<string> {
  const parts: string[] = [`compression=${compression}`, JSON.stringify(plan.entries)];
  for (const [path, src] of [...plan.sources].sort(([a], [b]) => (a < b ? -1 : 1))) {
    parts.push(path, "text" in src ? sha256Text(src.text) : await sha256File(src.hostPath));
  }
  return sha256Text(...parts);
}

/** Write the archive to `output` (atomically), compressed as asked. Returns its size. */
export async function writeInitramfs(plan: InitramfsPlan, output: string, compression: InitramfsCompression): Promise<number> {
  const raw = compression === "none" ? `${output}.tmp` : `${output}.cpio.tmp`;
  const sink = Bun.file(raw).writer();
  let ino = 0;
  for (const e of plan.entries) {
    sink.write(cpioHeader(e, ++ino));
    if (e.kind === "file") {
      const src = plan.sources.get(e.path);
      if (!src) throw new ImageError(`internal: no source for initramfs file ${e.path}`);
      const data = "text" in src ? Buffer.from(src.text) : await Bun.file(src.hostPath).bytes();
      if (data.length !== e.size) throw new ImageError(`${e.path} changed size while building the initramfs`);
      sink.write(data);
      sink.write(new Uint8Array(pad4(data.length)));
    } else if (e.kind === "symlink") {
      const data = Buffer.from(e.target);
      sink.write(data);
      sink.write(new Uint8Array(pad4(data.length)));
    }
    await sink.flush();
  }
  sink.write(cpioTrailer());
  await sink.end();

  if (compression === "lz4") {
    requireCommand("lz4", "lz4");
    // -l: legacy frames, the format the kernel's unlz4 reads.
    const r = await execa("lz4", ["-l", "-9", "-f", "-q", raw, `${output}.tmp`], { reject: false, all: true });
    await rm(raw, { force: true });
    if (r.exitCode !== 0) throw new ImageError(`lz4 failed: ${r.all ?? ""}`);
  }
  await rename(`${output}.tmp`, output);
  log.debug(`wrote ${output}`);
  return (await stat(output)).size;
}

export interface BuildInitramfsOptions extends GatherOptions {
  output: string;
  compression: InitramfsCompression;
  /** Hash of the file already at `output` (from the manifest); skip when unchanged. */
  previousHash?: string;
}

export interface InitramfsResult {
  path: string;
  size: number;
  entries: number;
  inputsHash: string;
  skipped: boolean;
}

export async function buildInitramfs(options: BuildInitramfsOptions): Promise<InitramfsResult> {
  const plan = planInitramfs(await gatherInitramfsInputs(options));
  const inputsHash = await initramfsInputsHash(plan, options.compression);
  if (options.previousHash === inputsHash && existsSync(options.output)) {
    const size = (await stat(options.output)).size;
    return { path: options.output, size, entries: plan.entries.length, inputsHash, skipped: true };
  }
  const size = await writeInitramfs(plan, options.output, options.compression);
  return { path: options.output, size, entries: plan.entries.length, inputsHash, skipped: false };
}
