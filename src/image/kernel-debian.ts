/**
 * The fallback kernel: Debian's linux-image-amd64. Its vmlinuz is a bzImage
 * whose in-guest decompression is slow under TCG, so the uncompressed vmlinux
 * is extracted for PVH boot when possible (bzImage otherwise); virtio, 9p and
 * overlay are modules there, loaded by the guest init in dependency order.
 */
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { ImageError } from "../host/errors.ts";
import { logger } from "../host/log.ts";
import { DECOMPRESSORS, findPayloads, isElf, parseShowDepends } from "./extract-vmlinux.ts";
import { sha256File } from "./hash.ts";
import { missingPackage, requireCommand } from "./host.ts";
import { DEFAULT_KERNEL_CACHE } from "./kernel-paths.ts";
import type { ImageProgress, KernelResult } from "./types.ts";

const log = logger("image");

/** What the guest needs from the modules (dependencies come from modprobe). */
export const FALLBACK_MODULES = [
  "virtio_pci",
  "virtio_mmio",
  "virtio_console",
  "virtio_blk",
  "virtio_net",
  "virtio_balloon",
  "virtio_rng",
  "9pnet_virtio",
  "9p",
  "overlay",
  "vmw_vsock_virtio_transport",
];

/** Newest /boot/vmlinuz-<version> (version order as dpkg sorts is overkill: the names sort well enough). */
export async function findDebianKernel(boot = "/boot"): Promise<{ path: string; version: string }> {
  const names = existsSync(boot) ? (await readdir(boot)).filter((n) => n.startsWith("vmlinuz-")).sort() : [];
  const name = names.at(-1);
  if (!name) throw missingPackage("a Debian kernel (/boot/vmlinuz-*)", "linux-image-amd64");
  return { path: join(boot, name), version: name.slice("vmlinuz-".length) };
}

export interface DebianKernelOptions {
  cacheDir?: string;
  reason: string;
  onProgress?: ImageProgress;
}

export async function debianKernel(options: DebianKernelOptions): Promise<KernelResult> {
  const progress = options.onProgress ?? ((e) => log.info(e.message));
  const { path: vmlinuz, version } = await findDebianKernel();
  const modules = await moduleFiles(version);
  const hash = await sha256File(vmlinuz);
  const outDir = join(options.cacheDir ?? DEFAULT_KERNEL_CACHE, `debian-${version}`);
  const vmlinux = join(outDir, "vmlinux");
  const base = { kind: "debian-fallback" as const, version, hash, modules, fallbackReason: options.reason };
  const zero = { extract: 0, config: 0, compile: 0 };

  progress({ step: "kernel", message: `FALLBACK: using Debian's kernel ${version} because ${options.reason}` });
  const marker = join(outDir, "source.sha256");
  if (existsSync(vmlinux) && existsSync(marker) && (await readFile(marker, "utf8")).trim() === hash) {
    return { ...base, path: vmlinux, format: "vmlinux", cached: true, timings: zero };
  }
  const t = performance.now();
  const elf = await extractVmlinux(vmlinuz);
  const extract = Math.round((performance.now() - t) / 10) / 100;
  if (!elf) {
    progress({ step: "kernel", message: `cannot extract an uncompressed vmlinux from ${vmlinuz}: booting the bzImage (slower)` });
    return { ...base, path: vmlinuz, format: "bzImage", cached: false, timings: zero };
  }
  await mkdir(outDir, { recursive: true });
  await writeFile(`${vmlinux}.tmp`, elf);
  await rename(`${vmlinux}.tmp`, vmlinux);
  await writeFile(marker, `${hash}\n`);
  return { ...base, path: vmlinux, format: "vmlinux", cached: false, timings: { ...zero, extract } };
}

/** Try each compressed payload until one decompresses to an ELF file. */
export async function extractVmlinux(vmlinuz: string): Promise<Uint8Array | undefined> {
  const data = new Uint8Array(await readFile(vmlinuz));
  for (const { compression, offset } of findPayloads(data)) {
    const [cmd, args] = DECOMPRESSORS[compression];
    if (!Bun.which(cmd)) continue;
    // Trailing bytes after the stream make the tool exit non-zero; the ELF check decides.
    const r = await execa(cmd, args, {
      input: data.subarray(offset),
      encoding: "buffer",
      reject: false,
      maxBuffer: 512 * 1024 * 1024,
    });
    log.debug(`${compression} payload at ${offset}: exit ${r.exitCode}, ${r.stdout.length} bytes`);
    if (isElf(r.stdout)) return r.stdout;
  }
  return undefined;
}

async function moduleFiles(version: string): Promise<string[]> {
  requireCommand("modprobe", "kmod");
  const all: string[] = [];
  for (const name of FALLBACK_MODULES) {
    const r = await execa("modprobe", ["-S", version, "--show-depends", name], { reject: false, all: true });
    if (r.exitCode !== 0) {
      throw new ImageError(`modprobe cannot find module ${name} for kernel ${version}: ${r.all ?? ""}`.trim());
    }
    for (const p of parseShowDepends(r.stdout)) if (!all.includes(p)) all.push(p);
  }
  return all;
}
