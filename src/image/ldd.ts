/**
 * Parsing `ldd` output (pure): which files a dynamically linked executable
 * needs at run time, including the dynamic loader.
 */

export interface LddResult {
  /** Absolute paths of needed libraries and the loader, in ldd's order, without duplicates. */
  paths: string[];
  /** Sonames ldd could not resolve ("not found"). */
  missing: string[];
  /** ldd said the file is static ("not a dynamic executable" / "statically linked"). */
  isStatic: boolean;
}

export function parseLdd(output: string): LddResult {
  const paths: string[] = [];
  const missing: string[] = [];
  let isStatic = false;
  for (const raw of output.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    if (/not a dynamic executable|statically linked/.test(line)) {
      isStatic = true;
      continue;
    }
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)"
    const arrow = /^(\S+)\s+=>\s+(.*?)\s*(\(0x[0-9a-f]+\))?$/.exec(line);
    if (arrow) {
      const target = arrow[2]!;
      if (target === "not found") missing.push(arrow[1]!);
      else if (target.startsWith("/")) paths.push(target);
      continue;
    }
    // "/lib64/ld-linux-x86-64.so.2 (0x...)"; the vdso has no path and is skipped
    const bare = /^(\/\S+)\s+\(0x[0-9a-f]+\)$/.exec(line);
    if (bare) paths.push(bare[1]!);
  }
  return { paths: [...new Set(paths)], missing, isStatic };
}
