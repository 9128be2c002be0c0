import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import type { ProcessInfo } from "../../core/api.ts";
import { type HuskError, UnsupportedError, UsageError } from "../../host/errors.ts";

/**
 * `husk ps ID [PS ARGS...]` as runc's: runc runs the host's `ps` (default
 * `-ef`) and keeps the lines of the container's pids. The processes live in
 * the guest, so husk builds ps's columns itself from the guest's process
 * list. The arguments are read as ps reads them, as far as they make sense
 * for one container's processes:
 *  - selection (-e -A -a -d -x, BSD a x): accepted, the list is the container's;
 *  - -f (full format), -o/o/--format KEYWORDS[=HEADER] (repeatable);
 *  - anything else (-l, -F, u, v, j, sorting, threads...) is refused naming
 *    the option, rather than printing something that is not what was asked.
 */

export interface PsColumn {
  header: string;
  /** Right-aligned as ps aligns numbers. */
  right: boolean;
  /** procps' minimum width, so the table lines up as ps's does. */
  width: number;
  value(p: ProcessInfo, ctx: PsContext): string;
}

export interface PsContext {
  /** Unix seconds, for C and STIME. */
  now: number;
  /** uid → user name, from the container's /etc/passwd. */
  users: Map<string, string>;
}

const UNIX_SELECTION = new Set(["e", "A", "a", "d", "x", "N"]);
const BSD_SELECTION = new Set(["a", "x", "g", "r"]);

const KEYWORDS: Record<string, PsColumn> = {
  uid: { header: "UID", right: true, width: 5, value: (p) => p.user ?? "?" },
  user: { header: "USER", right: false, width: 8, value: (p, c) => userName(p, c) },
  pid: { header: "PID", right: true, width: 5, value: (p) => String(p.pid) },
  ppid: { header: "PPID", right: true, width: 5, value: (p) => (p.ppid === undefined ? "?" : String(p.ppid)) },
  c: { header: "C", right: true, width: 2, value: (p, c) => cpuPercent(p, c, true) },
  pcpu: { header: "%CPU", right: true, width: 4, value: (p, c) => cpuPercent(p, c, false) },
  stime: { header: "STIME", right: false, width: 5, value: (p, c) => startText(p, c) },
  tty: { header: "TT", right: false, width: 8, value: (p) => p.tty ?? "?" },
  time: { header: "TIME", right: true, width: 8, value: (p) => cpuTimeText(p) },
  bsdtime: { header: "TIME", right: true, width: 6, value: (p) => bsdTimeText(p) },
  etime: { header: "ELAPSED", right: true, width: 11, value: (p, c) => elapsedText(p, c) },
  stat: { header: "STAT", right: false, width: 4, value: (p) => p.state ?? "?" },
  s: { header: "S", right: false, width: 1, value: (p) => (p.state ?? "?").slice(0, 1) },
  comm: { header: "COMMAND", right: false, width: 15, value: (p) => commandName(p) },
  args: { header: "COMMAND", right: false, width: 7, value: (p) => p.command },
};
const ALIASES: Record<string, string> = {
  euid: "uid",
  euser: "user",
  ruser: "user",
  uname: "user",
  "%cpu": "pcpu",
  start: "stime",
  start_time: "stime",
  tname: "tty",
  tt: "tty",
  cputime: "time",
  state: "s",
  ucmd: "comm",
  ucomm: "comm",
  cmd: "args",
  command: "args",
};

function column(keyword: string, header?: string): PsColumn {
  const name = ALIASES[keyword.toLowerCase()] ?? keyword.toLowerCase();
  const k = KEYWORDS[name];
  if (!k) {
    throw new UnsupportedError(
      `ps: format keyword ${JSON.stringify(keyword)} is not available for a VM's processes (known: ${[...Object.keys(KEYWORDS), ...Object.keys(ALIASES)].sort().join(" ")})`,
      {
        details: { keyword },
      },
    );
  }
  return { ...k, header: header ?? (keyword.toLowerCase() === "cmd" ? "CMD" : k.header) };
}

/** ps -ef: UID PID PPID C STIME TTY TIME CMD (UID shows the user name, as ps does). */
const FULL: PsColumn[] = [
  { ...KEYWORDS.user!, header: "UID" },
  KEYWORDS.pid!,
  KEYWORDS.ppid!,
  KEYWORDS.c!,
  KEYWORDS.stime!,
  { ...KEYWORDS.tty!, header: "TTY" },
  KEYWORDS.time!,
  { ...KEYWORDS.args!, header: "CMD" },
];
/** ps with no format option: PID TTY TIME CMD. */
const SHORT: PsColumn[] = [KEYWORDS.pid!, { ...KEYWORDS.tty!, header: "TTY" }, KEYWORDS.time!, { ...KEYWORDS.comm!, header: "CMD" }];
/** BSD-style (x, a) with no format option: PID TTY STAT TIME COMMAND (TIME as M:SS). */
const BSD: PsColumn[] = [KEYWORDS.pid!, { ...KEYWORDS.tty!, header: "TTY" }, KEYWORDS.stat!, KEYWORDS.bsdtime!, KEYWORDS.args!];

/** The columns ps would print for these arguments (runc's default: -ef). */
export function psColumns(args: readonly string[]): PsColumn[] {
  if (args.length === 0) return FULL;
  let full = false;
  let bsd = false;
  const custom: PsColumn[] = [];
  const addFormat = (spec: string) => {
    for (const item of spec.split(/[,\s]+/).filter(Boolean)) {
      const eq = item.indexOf("=");
      custom.push(eq >= 0 ? column(item.slice(0, eq), item.slice(eq + 1)) : column(item));
    }
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = () => {
      const v = args[++i];
      if (v === undefined) throw new UsageError(`ps: ${arg} needs a format`);
      return v;
    };
    if (arg === "--format" || arg === "-o" || arg === "o") {
      addFormat(next());
      continue;
    }
    if (arg.startsWith("--format=")) {
      addFormat(arg.slice("--format=".length));
      continue;
    }
    if (arg.startsWith("--")) throw unsupported(arg);
    if (arg.startsWith("-")) {
      // Unix options, grouped (-ef); -oFMT takes the rest.
      for (let j = 1; j < arg.length; j++) {
        const c = arg[j]!;
        if (c === "o") {
          const rest = arg.slice(j + 1);
          addFormat(rest || next());
          break;
        }
        if (c === "f") full = true;
        else if (c === "x") bsd = true;
        else if (c === "N") throw unsupported("-N");
        else if (!UNIX_SELECTION.has(c)) throw unsupported(`-${c}`);
      }
      continue;
    }
    // BSD options: no dash (ax, o FMT).
    for (const c of arg) {
      if (BSD_SELECTION.has(c)) bsd = true;
      else throw unsupported(arg.length > 1 ? `${c} (in ${arg})` : c);
    }
  }
  if (custom.length > 0) return custom;
  if (full) return FULL;
  return bsd ? BSD : SHORT;
}

function unsupported(option: string): HuskError {
  return new UnsupportedError(
    `ps: option ${option} is not supported for a VM's processes (supported: selection -e -A -a -d -x, BSD a x; format -f, -o/o/--format KEYWORDS)`,
    { details: { option } },
  );
}

/** The table ps would print: a header line and one line per process, columns padded as ps pads them. */
export function formatPs(columns: PsColumn[], procs: ProcessInfo[], ctx: PsContext): string {
  const rows = [...procs].sort((a, b) => a.pid - b.pid).map((p) => columns.map((c) => c.value(p, ctx)));
  const widths = columns.map((c, i) => Math.max(c.width, c.header.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => {
        const last = i === cells.length - 1;
        if (last) return cell;
        return columns[i]!.right ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!);
      })
      .join(" ")
      .trimEnd();
  return `${[line(columns.map((c) => c.header)), ...rows.map(line)].join("\n")}\n`;
}

function userName(p: ProcessInfo, ctx: PsContext): string {
  if (p.user === undefined) return "?";
  return ctx.users.get(p.user) ?? p.user;
}

function elapsed(p: ProcessInfo, ctx: PsContext): number | undefined {
  return p.startTime === undefined ? undefined : Math.max(0, ctx.now - p.startTime);
}

/** C (integer) or %CPU (one decimal): CPU time over the process's lifetime, as ps computes it. */
function cpuPercent(p: ProcessInfo, ctx: PsContext, integer: boolean): string {
  const life = elapsed(p, ctx);
  if (p.cpuSeconds === undefined || life === undefined) return "-";
  const pct = life > 0 ? (p.cpuSeconds * 100) / life : 0;
  return integer ? String(Math.floor(pct)) : pct.toFixed(1);
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** STIME as ps prints it: HH:MM today, MonDD this year, else the year (local time). */
function startText(p: ProcessInfo, ctx: PsContext): string {
  if (p.startTime === undefined) return "-";
  const t = new Date(p.startTime * 1000);
  const now = new Date(ctx.now * 1000);
  if (t.getFullYear() !== now.getFullYear()) return String(t.getFullYear());
  if (t.getMonth() !== now.getMonth() || t.getDate() !== now.getDate())
    return `${MONTHS[t.getMonth()]}${String(t.getDate()).padStart(2, "0")}`;
  return `${String(t.getHours()).padStart(2, "0")}:${String(t.getMinutes()).padStart(2, "0")}`;
}

/** [DD-]HH:MM:SS, as ps's TIME. */
function cpuTimeText(p: ProcessInfo): string {
  return p.cpuSeconds === undefined ? "-" : clock(Math.floor(p.cpuSeconds), true);
}

/** M:SS, as ps's BSD TIME (bsdtime). */
function bsdTimeText(p: ProcessInfo): string {
  if (p.cpuSeconds === undefined) return "-";
  const t = Math.floor(p.cpuSeconds);
  return `${Math.floor(t / 60)}:${String(t % 60).padStart(2, "0")}`;
}

/** [[DD-]HH:]MM:SS, as ps's ELAPSED. */
function elapsedText(p: ProcessInfo, ctx: PsContext): string {
  const e = elapsed(p, ctx);
  return e === undefined ? "-" : clock(Math.floor(e), false);
}

function clock(total: number, alwaysHours: boolean): string {
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (n: number) => String(n).padStart(2, "0");
  const hms = alwaysHours || d > 0 || h > 0 ? `${two(h)}:${two(m)}:${two(s)}` : `${two(m)}:${two(s)}`;
  return d > 0 ? `${d}-${hms}` : hms;
}

/** The command's name (ps's comm): the first word's last path element, or a kernel thread's [name]. */
function commandName(p: ProcessInfo): string {
  if (p.command.startsWith("[")) return p.command.slice(1, -1);
  const first = p.command.split(" ")[0] ?? p.command;
  return first.slice(first.lastIndexOf("/") + 1).slice(0, 15) || p.command;
}

/**
 * uid → name from the container's /etc/passwd, read from the rootfs on the
 * host. The rootfs is the container's to shape: neither etc nor passwd may
 * be a symlink (that could point at a host file), and at most 1 MiB is read.
 */
export function containerUsers(rootfs: string): Map<string, string> {
  const users = new Map<string, string>();
  let fd: number | undefined;
  try {
    if (!lstatSync(join(rootfs, "etc")).isDirectory()) return users;
    fd = openSync(join(rootfs, "etc", "passwd"), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    if (!fstatSync(fd).isFile()) return users;
    const buf = Buffer.alloc(1024 * 1024);
    const n = readSync(fd, buf, 0, buf.length, 0);
    for (const line of buf.subarray(0, n).toString("utf8").split("\n")) {
      const [name, , uid] = line.split(":");
      if (name && uid && /^\d+$/.test(uid) && !users.has(uid)) users.set(uid, name);
    }
  } catch {
    // No passwd (or not a safe one): ps shows numbers.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return users;
}
