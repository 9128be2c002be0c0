/**
 * The minimal guest kernel: Debian's linux-source-6.1, `make tinyconfig`,
 * our fragment (image/kernel/husk.config), olddefconfig, `make vmlinux`.
 * Cached by sha256(recipe + fragment + source package version) under
 * <cacheDir>/<hash>/vmlinux, so one machine builds it once.
 */
import { existsSync } from "node:fs";
import { appendFile, copyFile, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import * as v from "valibot";
import { ImageError } from "../host/errors.ts";
import { logger } from "../host/log.ts";
import { KERNEL_FRAGMENT } from "./assets.ts";
import { withCacheLock } from "./cache-lock.ts";
import { sha256Text } from "./hash.ts";
import { packageVersion, requireCommand, requireFile, missingPackage } from "./host.ts";
import { checkKconfig, formatMismatches, parseKconfig } from "./kconfig.ts";
import {
  DEFAULT_KERNEL_CACHE,
  KERNEL_BUILD_TOOLS,
  KERNEL_RECIPE,
  KERNEL_SOURCE_PACKAGE,
  KERNEL_SOURCE_TARBALL,
  kernelCacheLayout,
} from "./kernel-paths.ts";
import type { ImageProgress, KernelResult } from "./types.ts";

const log = logger("image");

export interface BuildKernelOptions {
  cacheDir?: string;
  /** make -j; default: the number of CPUs. */
  jobs?: number;
  /** Rebuild even when the cache has a result. */
  force?: boolean;
  /** Fragment text (default: the embedded image/kernel/husk.config). */
  fragment?: string;
  onProgress?: ImageProgress;
}

/** The cache key: what decides the kernel's bytes. */
export function kernelCacheKey(fragment: string, sourceVersion: string): string {
  return sha256Text(KERNEL_RECIPE, fragment, `${KERNEL_SOURCE_PACKAGE}=${sourceVersion}`);
}

const BuildRecordSchema = v.strictObject({
  hash: v.string(),
  version: v.string(),
  sourceVersion: v.string(),
  timings: v.strictObject({ extract: v.number(), config: v.number(), compile: v.number() }),
});
type BuildRecord = v.InferOutput<typeof BuildRecordSchema>;

async function readRecord(path: string): Promise<BuildRecord | undefined> {
  try {
    return v.parse(BuildRecordSchema, JSON.parse(await readFile(path, "utf8")));
  } catch {
    return undefined; // absent or unreadable: rebuild
  }
}

const seconds = (start: number) => Math.round((performance.now() - start) / 10) / 100;

/** The cached minimal kernel for the current fragment and source, without building; undefined if none. */
export async function findCachedKernel(options: Pick<BuildKernelOptions, "cacheDir" | "fragment"> = {}): Promise<KernelResult | undefined> {
  const sourceVersion = await packageVersion(KERNEL_SOURCE_PACKAGE);
  if (!sourceVersion) return undefined;
  const hash = kernelCacheKey(options.fragment ?? KERNEL_FRAGMENT, sourceVersion);
  const dir = kernelCacheLayout(options.cacheDir ?? DEFAULT_KERNEL_CACHE, hash).resultDir;
  const record = await readRecord(join(dir, "build.json"));
  return record && existsSync(join(dir, "vmlinux")) ? result(join(dir, "vmlinux"), record, true) : undefined;
}

export async function buildKernel(options: BuildKernelOptions = {}): Promise<KernelResult> {
  const cacheDir = options.cacheDir ?? DEFAULT_KERNEL_CACHE;
  const fragment = options.fragment ?? KERNEL_FRAGMENT;
  const progress = options.onProgress ?? ((e) => log.info(e.message));
  const jobs = options.jobs ?? availableParallelism();

  const sourceVersion = await packageVersion(KERNEL_SOURCE_PACKAGE);
  if (!sourceVersion) throw missingPackage(`the kernel source (${KERNEL_SOURCE_TARBALL})`, KERNEL_SOURCE_PACKAGE);
  requireFile(KERNEL_SOURCE_TARBALL, KERNEL_SOURCE_PACKAGE);
  for (const [cmd, pkg] of KERNEL_BUILD_TOOLS) requireCommand(cmd, pkg);
  // objtool links against libelf; the error from make would be obscure.
  requireFile("/usr/include/libelf.h", "libelf-dev");

  const hash = kernelCacheKey(fragment, sourceVersion);
  const layout = kernelCacheLayout(cacheDir, hash);
  const vmlinux = join(layout.resultDir, "vmlinux");
  const recordPath = join(layout.resultDir, "build.json");

  const cachedRecord = options.force ? undefined : await readRecord(recordPath);
  if (cachedRecord && existsSync(vmlinux)) {
    progress({ step: "kernel", message: `minimal kernel ${cachedRecord.version} from cache (${vmlinux})` });
    return result(vmlinux, cachedRecord, true);
  }
  return withCacheLock(
    cacheDir,
    () => progress({ step: "kernel", message: `waiting for another kernel build in ${cacheDir} to finish` }),
    async () => {
      // Another process may have built it while we waited.
      const record = options.force ? undefined : await readRecord(recordPath);
      if (record && existsSync(vmlinux)) return result(vmlinux, record, true);
      return compileKernel({ cacheDir, fragment, progress, jobs, sourceVersion, hash, vmlinux, recordPath });
    },
  );
}

interface CompileInputs {
  cacheDir: string;
  fragment: string;
  progress: ImageProgress;
  jobs: number;
  sourceVersion: string;
  hash: string;
  vmlinux: string;
  recordPath: string;
}

async function compileKernel(inputs: CompileInputs): Promise<KernelResult> {
  const { cacheDir, fragment, progress, jobs, sourceVersion, hash, vmlinux, recordPath } = inputs;
  const layout = kernelCacheLayout(cacheDir, hash);

  const timings = { extract: 0, config: 0, compile: 0 };

  // 1. extract (once per source package version)
  let t = performance.now();
  const marker = existsSync(layout.srcMarker) ? (await readFile(layout.srcMarker, "utf8")).trim() : "";
  if (marker !== sourceVersion || !existsSync(join(layout.srcDir, "Makefile"))) {
    progress({ step: "kernel", message: `extracting ${KERNEL_SOURCE_TARBALL} (${sourceVersion})` });
    await rm(join(cacheDir, "src"), { recursive: true, force: true });
    await rm(layout.objDir, { recursive: true, force: true });
    await mkdir(join(cacheDir, "src"), { recursive: true });
    await run("tar", ["-xJf", KERNEL_SOURCE_TARBALL, "-C", join(cacheDir, "src")], "extracting the kernel source");
    await writeFile(layout.srcMarker, `${sourceVersion}\n`);
  }
  timings.extract = seconds(t);

  // 2. configure: tinyconfig, then the fragment (later assignments win), then olddefconfig
  t = performance.now();
  progress({ step: "kernel", message: "configuring: tinyconfig + husk.config + olddefconfig" });
  await mkdir(layout.objDir, { recursive: true });
  const make = ["-C", layout.srcDir, `O=${layout.objDir}`];
  await run("make", [...make, "tinyconfig"], "make tinyconfig");
  await appendFile(join(layout.objDir, ".config"), `\n${fragment}\n`);
  await run("make", [...make, "olddefconfig"], "make olddefconfig");
  const mismatches = checkKconfig(parseKconfig(fragment), parseKconfig(await readFile(join(layout.objDir, ".config"), "utf8")));
  if (mismatches.length > 0) {
    throw new ImageError(
      `the kernel configuration lacks options husk.config asks for (unmet dependencies?): ${formatMismatches(mismatches)}`,
      {
        details: { mismatches },
      },
    );
  }
  timings.config = seconds(t);

  // 3. compile, niced: the machine is shared
  t = performance.now();
  progress({ step: "kernel", message: `compiling vmlinux with ${jobs} jobs (minutes; progress every 30 s)` });
  await compile([...make, `-j${jobs}`, "vmlinux"], (objects) =>
    progress({ step: "kernel", message: `compiling: ${objects} objects done, ${seconds(t).toFixed(0)} s` }),
  );
  timings.compile = seconds(t);

  const version = (await run("make", [...make, "-s", "kernelrelease"], "make kernelrelease")).trim();
  await mkdir(layout.resultDir, { recursive: true });
  await copyFile(join(layout.objDir, "vmlinux"), `${vmlinux}.tmp`);
  await rename(`${vmlinux}.tmp`, vmlinux);
  const record: BuildRecord = { hash, version, sourceVersion, timings };
  await writeFile(recordPath, `${JSON.stringify(record, null, 2)}\n`);
  progress({
    step: "kernel",
    message: `built minimal kernel ${version}: extract ${timings.extract} s, config ${timings.config} s, compile ${timings.compile} s`,
  });
  return result(vmlinux, record, false);
}

function result(path: string, record: BuildRecord, cached: boolean): KernelResult {
  return {
    kind: "minimal",
    path,
    format: "vmlinux",
    version: record.version,
    hash: record.hash,
    cached,
    timings: cached ? { extract: 0, config: 0, compile: 0 } : record.timings,
    modules: [],
  };
}

async function run(cmd: string, args: string[], what: string): Promise<string> {
  log.debug(`${cmd} ${args.join(" ")}`);
  const r = await execa(cmd, args, { reject: false, all: true });
  if (r.exitCode !== 0) {
    throw new ImageError(`${what} failed (exit ${r.exitCode}): ${tail(r.all ?? "")}`);
  }
  return r.stdout;
}

async function compile(args: string[], onTick: (objects: number) => void): Promise<void> {
  log.debug(`nice make ${args.join(" ")}`);
  const child = execa("nice", ["-n", "10", "make", ...args], { reject: false, all: true, buffer: { all: false } });
  let objects = 0;
  const recent: string[] = [];
  const timer = setInterval(() => onTick(objects), 30_000);
  try {
    for await (const line of child.iterable({ from: "all" })) {
      const text = String(line);
      if (/^\s+(CC|AS|LD|AR)\s/.test(text)) objects++;
      recent.push(text);
      if (recent.length > 40) recent.shift();
    }
  } catch {
    // the exit code below decides
  } finally {
    clearInterval(timer);
  }
  const r = await child;
  if (r.exitCode !== 0) throw new ImageError(`make vmlinux failed (exit ${r.exitCode}): ${tail(recent.join("\n"))}`);
}

const tail = (text: string, lines = 20) => text.trim().split("\n").slice(-lines).join("\n");
