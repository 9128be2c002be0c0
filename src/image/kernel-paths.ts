/** Where the kernel builder finds its inputs and keeps its cache. */
import { join } from "node:path";

export const KERNEL_SOURCE_PACKAGE = "linux-source-6.1";
export const KERNEL_SOURCE_TARBALL = "/usr/src/linux-source-6.1.tar.xz";
/** Top directory inside the tarball. */
export const KERNEL_SOURCE_TOPDIR = "linux-source-6.1";
export const DEFAULT_KERNEL_CACHE = "/var/cache/husk/kernel";
/** Bump when the build procedure changes in a way that changes the result. */
export const KERNEL_RECIPE = "husk-kernel-recipe-1: tinyconfig + fragment + olddefconfig; make vmlinux";

/** Host tools the build needs, with the Debian package providing each. */
export const KERNEL_BUILD_TOOLS: ReadonlyArray<[command: string, pkg: string]> = [
  ["make", "build-essential"],
  ["gcc", "build-essential"],
  ["flex", "flex"],
  ["bison", "bison"],
  ["bc", "bc"],
  ["xz", "xz-utils"],
  ["tar", "tar"],
];

export interface KernelCacheLayout {
  /** Extracted source tree (shared by every configuration). */
  srcDir: string;
  /** Marker holding the package version the tree was extracted from. */
  srcMarker: string;
  /** make O= directory: kept between builds so a rebuild is incremental. */
  objDir: string;
  /** Finished result for one cache key. */
  resultDir: string;
}

export function kernelCacheLayout(cacheDir: string, hash: string): KernelCacheLayout {
  return {
    srcDir: join(cacheDir, "src", KERNEL_SOURCE_TOPDIR),
    srcMarker: join(cacheDir, "src", ".extracted"),
    objDir: join(cacheDir, "build"),
    resultDir: join(cacheDir, hash),
  };
}
