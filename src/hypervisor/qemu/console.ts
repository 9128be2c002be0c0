import { closeSync, fstatSync, openSync, readSync } from "node:fs";

/** Lines of guest console put into boot/exit errors. */
export const CONSOLE_TAIL_LINES = 30;

/**
 * Last `lines` lines of a log file (reads at most the last 64 KiB, so a huge
 * console log costs nothing). Missing file → "".
 */
export function readTail(path: string, lines = CONSOLE_TAIL_LINES, maxBytes = 64 * 1024): string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return "";
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, maxBytes);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    return tailLines(buf.toString("utf8"), lines);
  } finally {
    closeSync(fd);
  }
}

/** Pure: the last n non-empty-trailing lines of text, control characters other than tab removed. */
export function tailLines(text: string, n: number): string {
  const clean = text.replace(/\r/g, "").replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
  const all = clean.split("\n");
  while (all.length && all.at(-1) === "") all.pop();
  return all.slice(-n).join("\n");
}
