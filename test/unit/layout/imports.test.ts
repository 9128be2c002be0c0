import { describe, expect, test } from "bun:test";
import { Glob } from "bun";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/**
 * The folder map in README.md, highest first: a folder may import only the
 * folders below it. Reads every import under src/ and checks the rule, so a
 * layering break fails here instead of growing an import cycle.
 */
export const FOLDER_ORDER = [
  "cli",
  "shimv2",
  "runtime",
  "plugins",
  "shim",
  "monitor",
  "core",
  "factory",
  "hypervisor",
  "image",
  "agent",
  "oci",
  "config",
  "host",
] as const;

const REPO = resolve(import.meta.dir, "../../..");
const SPECIFIER = /(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g;

interface Edge {
  file: string;
  target: string;
}

function sourceImports(): Edge[] {
  const edges: Edge[] = [];
  for (const file of new Glob("src/**/*.ts").scanSync(REPO)) {
    const text = readFileSync(join(REPO, file), "utf8");
    for (const m of text.matchAll(SPECIFIER)) {
      edges.push({ file, target: relative(REPO, resolve(dirname(join(REPO, file)), m[1] as string)) });
    }
  }
  return edges;
}

/** src/<folder>/... -> folder; src/main.ts -> "main". */
function folderOf(path: string): string | undefined {
  const parts = path.split("/");
  if (parts[0] !== "src") return undefined;
  return parts.length > 2 ? parts[1] : "main";
}

const MAX_LINES = 400;

describe("file size", () => {
  test(`no source file is over ${MAX_LINES} lines`, () => {
    const long: string[] = [];
    for (const file of new Glob("{src,plugins}/**/*.ts").scanSync(REPO)) {
      const lines = readFileSync(join(REPO, file), "utf8").split("\n").length - 1;
      if (lines > MAX_LINES) long.push(`${file}: ${lines}`);
    }
    expect(long).toEqual([]);
  });
});

describe("folder map", () => {
  const edges = sourceImports();

  test("the source tree has imports to check", () => {
    expect(edges.length).toBeGreaterThan(200);
  });

  test("README.md's folder map lists the folders in this order", () => {
    const readme = readFileSync(join(REPO, "README.md"), "utf8");
    const rows = [...readme.matchAll(/^\| `src\/([a-z0-9]+)\/` \|/gm)].map((m) => m[1]);
    expect(rows).toEqual([...FOLDER_ORDER]);
  });

  test("every folder under src/ is in the folder map", () => {
    const folders = new Set<string>();
    for (const file of new Glob("src/**/*.ts").scanSync(REPO)) {
      const f = folderOf(file);
      if (f && f !== "main") folders.add(f);
    }
    expect([...folders].filter((f) => !(FOLDER_ORDER as readonly string[]).includes(f))).toEqual([]);
  });

  test("no production file imports from test/", () => {
    expect(edges.filter((e) => e.target.startsWith("test/")).map((e) => `${e.file} -> ${e.target}`)).toEqual([]);
  });

  test("no folder imports a folder above it", () => {
    const rank = (f: string) => (f === "main" ? -1 : (FOLDER_ORDER as readonly string[]).indexOf(f));
    const upward = edges
      .filter((e) => {
        const from = folderOf(e.file);
        const to = folderOf(e.target);
        if (from === undefined || to === undefined || from === to) return false;
        return rank(to) <= rank(from);
      })
      .map((e) => `${e.file} -> ${e.target}`);
    expect(upward).toEqual([]);
  });
});
