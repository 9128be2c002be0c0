#!/usr/bin/env bun
/**
 * Checks that every relative link and #anchor in README.md, docs/**\/*.md and
 * plugins/*\/README.md resolves: the file or directory exists, and an anchor
 * names a heading of the target Markdown file (GitHub's slugs). Links inside
 * code (fenced blocks, `inline`) are ignored; http(s) and mailto links are
 * not checked. Prints each broken link and exits 1 if there is any.
 *
 *   bun scripts/check-doc-links.ts
 */
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const repo = resolve(import.meta.dir, "..");

function markdownFiles(): string[] {
  const files = [join(repo, "README.md")];
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(".md")) files.push(p);
    }
  };
  walk(join(repo, "docs"));
  for (const name of readdirSync(join(repo, "plugins")).sort()) {
    const p = join(repo, "plugins", name, "README.md");
    if (existsSync(p)) files.push(p);
  }
  return files;
}

/** Lines outside fenced code blocks, with their 1-based numbers. */
function proseLines(text: string): { line: string; n: number }[] {
  const out: { line: string; n: number }[] = [];
  let fence: string | undefined;
  text.split("\n").forEach((line, i) => {
    const m = /^\s*(```|~~~)/.exec(line);
    if (m) {
      if (fence === undefined) fence = m[1];
      else if (fence === m[1]) fence = undefined;
      return;
    }
    if (fence === undefined) out.push({ line, n: i + 1 });
  });
  return out;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes, -N for repeats. */
function anchorsOf(file: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const { line } of proseLines(readFileSync(file, "utf8"))) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const text = (m[1] ?? "").replace(/\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/<[^>]+>/g, "");
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

const anchorCache = new Map<string, Set<string>>();
function hasAnchor(file: string, anchor: string): boolean {
  let set = anchorCache.get(file);
  if (!set) {
    set = anchorsOf(file);
    anchorCache.set(file, set);
  }
  return set.has(decodeURIComponent(anchor).toLowerCase());
}

let broken = 0;
let checked = 0;
for (const file of markdownFiles()) {
  for (const { line, n } of proseLines(readFileSync(file, "utf8"))) {
    const prose = line.replace(/`[^`]*`/g, "``");
    for (const m of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1] ?? "";
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
      checked++;
      const [path = "", anchor] = target.split("#", 2);
      const dest = path === "" ? file : resolve(dirname(file), decodeURIComponent(path));
      let problem: string | undefined;
      if (!existsSync(dest)) problem = "no such file";
      else if (anchor !== undefined && anchor !== "") {
        if (!dest.endsWith(".md")) problem = "anchor on a file that is not Markdown";
        else if (!hasAnchor(dest, anchor)) problem = `no heading #${anchor} in ${relative(repo, dest)}`;
      }
      if (problem) {
        broken++;
        console.log(`${relative(repo, file)}:${n}: ${target}: ${problem}`);
      }
    }
  }
}
console.log(`${checked} relative links checked, ${broken} broken`);
process.exit(broken === 0 ? 0 : 1);
