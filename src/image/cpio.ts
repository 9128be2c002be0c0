/**
 * The cpio "newc" format the kernel unpacks as an initramfs (pure encoding).
 * Written here rather than with cpio(1) so that device nodes need no root,
 * and so the archive is reproducible: sorted entries, fixed mtime, owner 0,
 * inode numbers by position.
 */

export type CpioEntry =
  | { kind: "dir"; path: string; mode: number }
  | { kind: "file"; path: string; mode: number; size: number }
  | { kind: "symlink"; path: string; target: string }
  | { kind: "char"; path: string; mode: number; major: number; minor: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

/** All archive timestamps: reproducible builds (SOURCE_DATE_EPOCH-style constant). */
export const CPIO_MTIME = 0;
const TRAILER = "TRAILER!!!";

const hex8 = (n: number) => n.toString(16).padStart(8, "0");
export const pad4 = (n: number) => (4 - (n % 4)) % 4;

function typeBits(e: CpioEntry): number {
  switch (e.kind) {
    case "dir":
      return S_IFDIR | (e.mode & 0o7777);
    case "file":
      return S_IFREG | (e.mode & 0o7777);
    case "symlink":
      return S_IFLNK | 0o777;
    case "char":
      return S_IFCHR | (e.mode & 0o7777);
  }
}

/** Size of the entry's data: file content, or the symlink target. */
export function entryDataSize(e: CpioEntry): number {
  if (e.kind === "file") return e.size;
  if (e.kind === "symlink") return Buffer.byteLength(e.target);
  return 0;
}

/** Header + name + padding for one entry; `ino` must be unique per entry. */
export function cpioHeader(e: CpioEntry | { kind: "trailer" }, ino: number): Uint8Array {
  const name = e.kind === "trailer" ? TRAILER : e.path.replace(/^\/+/, "");
  const nameSize = Buffer.byteLength(name) + 1;
  const isTrailer = e.kind === "trailer";
  const fields = [
    isTrailer ? 0 : ino,
    isTrailer ? 0 : typeBits(e),
    0, // uid
    0, // gid
    isTrailer ? 1 : e.kind === "dir" ? 2 : 1, // nlink
    CPIO_MTIME,
    isTrailer ? 0 : entryDataSize(e),
    0, // devmajor
    0, // devminor
    !isTrailer && e.kind === "char" ? e.major : 0,
    !isTrailer && e.kind === "char" ? e.minor : 0,
    nameSize,
    0, // check
  ];
  const head = `070701${fields.map(hex8).join("")}${name}\0`;
  return Buffer.from(head + "\0".repeat(pad4(Buffer.byteLength(head))));
}

export function cpioTrailer(): Uint8Array {
  return cpioHeader({ kind: "trailer" }, 0);
}

/**
 * Sort for the archive: parents before children (lexicographic by path does
 * this), no duplicate paths. Throws on a duplicate: two sources for one file
 * is a bug in the plan.
 */
export function sortEntries(entries: CpioEntry[]): CpioEntry[] {
  const norm = entries.map((e) => ({ ...e, path: e.path.replace(/^\/+/, "") }));
  norm.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (let i = 1; i < norm.length; i++) {
    if (norm[i]!.path === norm[i - 1]!.path) throw new Error(`duplicate initramfs path: ${norm[i]!.path}`);
  }
  return norm;
}

/**
 * Encode a whole archive in memory, with file contents from `content(path)`.
 * Used by tests and for small archives; initramfs.ts streams large files.
 */
export function encodeCpio(entries: CpioEntry[], content: (path: string) => Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  sortEntries(entries).forEach((e, i) => {
    parts.push(cpioHeader(e, i + 1));
    const data = e.kind === "file" ? content(e.path) : e.kind === "symlink" ? Buffer.from(e.target) : new Uint8Array(0);
    if (e.kind === "file" && data.length !== e.size) throw new Error(`size changed for ${e.path}`);
    parts.push(data, new Uint8Array(pad4(data.length)));
  });
  parts.push(cpioTrailer());
  return Buffer.concat(parts);
}
