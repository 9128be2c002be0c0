/** Types shared by the image builder's steps. */

/** One progress report: which step, and what is happening (one line, for people). */
export interface ImageProgressEvent {
  step: "kernel" | "initramfs" | "agent" | "manifest";
  message: string;
}
export type ImageProgress = (event: ImageProgressEvent) => void;

export type KernelKind = "minimal" | "debian-fallback";

export interface KernelResult {
  kind: KernelKind;
  /** The kernel file to boot (in the cache; build.ts copies it into the image). */
  path: string;
  /** "vmlinux": uncompressed ELF, boots through PVH; "bzImage": through the setup header. */
  format: "vmlinux" | "bzImage";
  /** uname -r of the guest kernel. */
  version: string;
  /** Cache key (minimal) or the source vmlinuz's sha256 (fallback). */
  hash: string;
  /** True when nothing was built this time. */
  cached: boolean;
  /** Seconds spent per phase of this call (zeros when cached). */
  timings: { extract: number; config: number; compile: number };
  /** Fallback only: host module files to load in the guest, in load order. */
  modules: string[];
  /** Fallback only: why the minimal kernel was not used. */
  fallbackReason?: string;
}
