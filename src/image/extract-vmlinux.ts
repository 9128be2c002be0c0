/**
 * Finding the compressed kernel inside a bzImage (pure), the way the
 * kernel's scripts/extract-vmlinux does: search for each compressor's magic
 * bytes; the caller tries to decompress from each offset until the result is
 * an ELF file (an uncompressed vmlinux, bootable through PVH).
 */

export type Compression = "gzip" | "xz" | "zstd" | "lz4" | "lzma" | "bzip2";

const MAGICS: ReadonlyArray<[Compression, number[]]> = [
  ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ["gzip", [0x1f, 0x8b, 0x08]],
  ["zstd", [0x28, 0xb5, 0x2f, 0xfd]],
  ["lz4", [0x02, 0x21, 0x4c, 0x18]],
  ["bzip2", [0x42, 0x5a, 0x68]],
  ["lzma", [0x5d, 0x00, 0x00, 0x00]],
];

export interface Payload {
  compression: Compression;
  offset: number;
}

/** Candidate payloads, in the order extract-vmlinux tries them; at most `perKind` offsets each. */
export function findPayloads(data: Uint8Array, perKind = 4): Payload[] {
  const found: Payload[] = [];
  for (const [compression, magic] of MAGICS) {
    let from = 0;
    for (let n = 0; n < perKind; n++) {
      const offset = indexOf(data, magic, from);
      if (offset < 0) break;
      found.push({ compression, offset });
      from = offset + 1;
    }
  }
  return found;
}

function indexOf(data: Uint8Array, needle: number[], from: number): number {
  const first = needle[0]!;
  for (let i = data.indexOf(first, from); i >= 0 && i <= data.length - needle.length; i = data.indexOf(first, i + 1)) {
    let ok = true;
    for (let j = 1; j < needle.length; j++) {
      if (data[i + j] !== needle[j]) {
        ok = false;
        break;
      }
    }
    if (ok) return i;
  }
  return -1;
}

export function isElf(data: Uint8Array): boolean {
  return data.length > 4 && data[0] === 0x7f && data[1] === 0x45 && data[2] === 0x4c && data[3] === 0x46;
}

/** Host command that decompresses stdin to stdout, ignoring trailing garbage where it can. */
export const DECOMPRESSORS: Record<Compression, [string, string[], string]> = {
  xz: ["xz", ["-dc"], "xz-utils"],
  gzip: ["gzip", ["-dc"], "gzip"],
  zstd: ["zstd", ["-dc"], "zstd"],
  lz4: ["lz4", ["-dc"], "lz4"],
  bzip2: ["bzip2", ["-dc"], "bzip2"],
  lzma: ["xz", ["-dc", "--format=lzma"], "xz-utils"],
};

/** `modprobe --show-depends` output → module files in load order (builtins skipped). */
export function parseShowDepends(output: string): string[] {
  const paths: string[] = [];
  for (const line of output.split("\n")) {
    const m = /^insmod\s+(\S+)/.exec(line.trim());
    if (m) paths.push(m[1]!);
  }
  return paths;
}
