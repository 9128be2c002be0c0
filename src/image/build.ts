/**
 * `husk image build`: kernel, initramfs, agent and manifest.json in one
 * directory (default /var/lib/husk/image). Each step is skipped when its
 * inputs hash is the one recorded in the previous manifest and its file is
 * still there, so running it again is cheap.
 */
import { existsSync } from "node:fs";
import { copyFile, mkdir, rename, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { DEFAULT_IMAGE_DIR } from "../config/schema.ts";
import { HuskError } from "../host/errors.ts";
import { logger } from "../host/log.ts";
import { COMMIT, VERSION } from "../host/version.ts";
import { installAgent, resolveAgentPath } from "./agent-file.ts";
import { sha256File } from "./hash.ts";
import { buildInitramfs, type InitramfsCompression } from "./initramfs.ts";
import { buildKernel } from "./kernel.ts";
import { debianKernel } from "./kernel-debian.ts";
import { type ImageFile, type ImageManifest, MANIFEST_SCHEMA_VERSION, readImageManifest, writeImageManifest } from "./manifest.ts";
import { imageKernelParams, RECOMMENDED_MACHINE } from "./params.ts";
import type { ImageProgress, KernelResult } from "./types.ts";

const log = logger("image");

export interface BuildImageOptions {
  /** Output directory (default DEFAULT_IMAGE_DIR). */
  output?: string;
  /** Build (or fetch from the cache) only the kernel. */
  kernelOnly?: boolean;
  /** Redo every step, the kernel compile included. */
  force?: boolean;
  /** auto: the minimal kernel, falling back to Debian's; minimal: no fallback; debian: Debian's. */
  kernel?: "auto" | "minimal" | "debian";
  /** The agent executable (default: the running husk when compiled). */
  agentPath?: string;
  compression?: InitramfsCompression;
  /** Kernel build cache (default /var/cache/husk/kernel). */
  cacheDir?: string;
  jobs?: number;
  onProgress?: ImageProgress;
}

export const AGENT_DIR = "agent";
export const AGENT_FILE = `${AGENT_DIR}/husk`;

export function initrdFileName(compression: InitramfsCompression): string {
  return compression === "lz4" ? "initramfs.cpio.lz4" : "initramfs.cpio";
}

export async function buildImage(options: BuildImageOptions = {}): Promise<ImageManifest> {
  const out = options.output ?? DEFAULT_IMAGE_DIR;
  const progress = options.onProgress ?? ((e) => log.info(`${e.step}: ${e.message}`));
  const compression = options.compression ?? "none";
  await mkdir(out, { recursive: true });
  const previous = options.force ? undefined : await readImageManifest(out).catch(() => undefined);
  const fileOf = (path: string) => previous?.files.find((f) => f.path === path);

  // kernel
  const kernel = await chooseKernel(options, progress);
  const kernelFile = kernel.format === "vmlinux" ? "vmlinux" : "vmlinuz";
  const kernelDest = join(out, kernelFile);
  if (previous?.inputs.kernel !== kernel.hash || previous.kernel.path !== kernelFile || !existsSync(kernelDest)) {
    await copyFile(kernel.path, `${kernelDest}.tmp`);
    await rename(`${kernelDest}.tmp`, kernelDest);
  }
  const files: ImageFile[] = [await describe(out, kernelFile, previous?.inputs.kernel === kernel.hash ? fileOf(kernelFile) : undefined)];

  let initrd: ImageManifest["initrd"] = previous?.initrd;
  let agentDir: string | undefined = previous?.agentDir;
  const inputs: ImageManifest["inputs"] = { kernel: kernel.hash };

  if (options.kernelOnly) {
    // keep what a previous full build left, if it is still there
    for (const path of [initrd?.path, agentDir ? AGENT_FILE : undefined]) {
      const f = path ? fileOf(path) : undefined;
      if (f && existsSync(join(out, f.path))) files.push(f);
    }
    if (!initrd || !files.some((f) => f.path === initrd?.path)) initrd = undefined;
    if (!files.some((f) => f.path === AGENT_FILE)) agentDir = undefined;
    if (initrd) inputs.initramfs = previous?.inputs.initramfs;
    if (agentDir) inputs.agent = previous?.inputs.agent;
  } else {
    // agent
    const agentSource = resolveAgentPath(options.agentPath);
    progress({ step: "agent", message: `agent executable: ${agentSource}` });
    const agentHash = await sha256File(agentSource);
    const agentDest = join(out, AGENT_FILE);
    if (previous?.inputs.agent !== agentHash || !existsSync(agentDest)) await installAgent(agentSource, agentDest);
    files.push(await describe(out, AGENT_FILE, previous?.inputs.agent === agentHash ? fileOf(AGENT_FILE) : undefined, agentHash));
    agentDir = AGENT_DIR;
    inputs.agent = agentHash;

    // initramfs
    const initrdFile = initrdFileName(compression);
    progress({ step: "initramfs", message: `assembling ${initrdFile} (busybox, crun, libraries, init)` });
    const r = await buildInitramfs({
      output: join(out, initrdFile),
      compression,
      libsFor: [agentSource],
      modules: kernel.modules,
      previousHash: previous?.initrd?.path === initrdFile ? previous.inputs.initramfs : undefined,
    });
    progress({
      step: "initramfs",
      message: `${r.skipped ? "unchanged" : "wrote"} ${initrdFile}: ${r.entries} entries, ${(r.size / 1048576).toFixed(1)} MiB`,
    });
    files.push(await describe(out, initrdFile, r.skipped ? fileOf(initrdFile) : undefined));
    initrd = { path: initrdFile, compression };
    inputs.initramfs = r.inputsHash;
  }

  const manifest: ImageManifest = {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    husk: { version: VERSION, commit: COMMIT },
    kernel: {
      path: kernelFile,
      kind: kernel.kind,
      format: kernel.format,
      version: kernel.version,
      ...(kernel.fallbackReason ? { fallbackReason: kernel.fallbackReason } : {}),
    },
    ...(initrd ? { initrd } : {}),
    ...(agentDir ? { agentDir } : {}),
    machine: RECOMMENDED_MACHINE,
    kernelParams: imageKernelParams(kernel.kind),
    modules: kernel.modules,
    files: files.sort((a, b) => (a.path < b.path ? -1 : 1)),
    inputs,
    origin: { kind: "built", host: hostname(), at: new Date().toISOString() },
  };
  // Nothing changed (every step skipped): the image is the one made before, origin included.
  if (previous?.origin && Bun.deepEquals({ ...previous, origin: undefined }, { ...manifest, origin: undefined }))
    manifest.origin = previous.origin;
  await writeImageManifest(out, manifest);
  progress({ step: "manifest", message: `image ready in ${out} (kernel: ${kernel.kind} ${kernel.version})` });
  return manifest;
}

async function chooseKernel(options: BuildImageOptions, progress: ImageProgress): Promise<KernelResult> {
  const mode = options.kernel ?? "auto";
  const common = { cacheDir: options.cacheDir, onProgress: progress };
  if (mode === "debian") return debianKernel({ ...common, reason: "it was asked for" });
  try {
    return await buildKernel({ ...common, force: options.force, jobs: options.jobs });
  } catch (err) {
    if (mode === "minimal" || !(err instanceof HuskError)) throw err;
    const reason = `the minimal kernel could not be built: ${err.message}`;
    log.warn(reason);
    return debianKernel({ ...common, reason });
  }
}

/** Size + sha256 of an image file; reuse `known` when the step was skipped. */
async function describe(dir: string, path: string, known?: ImageFile, sha256?: string): Promise<ImageFile> {
  const st = await stat(join(dir, path));
  if (known && known.size === st.size) return known;
  return { path, size: st.size, sha256: sha256 ?? (await sha256File(join(dir, path))) };
}
