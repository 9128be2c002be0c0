import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { GuestDetailsSchema, ProcessInfoSchema, StatsSchema } from "../protocol.ts";
import type * as v from "valibot";

/** Reading /proc and cgroup v2 files; roots are parameters so tests can use fixtures. */

type ProcessInfo = v.InferOutput<typeof ProcessInfoSchema>;
type Stats = v.InferOutput<typeof StatsSchema>;
type GuestDetails = v.InferOutput<typeof GuestDetailsSchema>;

export interface StatFields {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
}

/** /proc/<pid>/stat: the command may hold spaces and parentheses, so split at the last ')'. */
export function parseStat(text: string): StatFields | null {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return null;
  const rest = text.slice(close + 2).split(" ");
  const pid = Number(text.slice(0, open).trim());
  const ppid = Number(rest[1]);
  if (!Number.isInteger(pid) || !Number.isInteger(ppid)) return null;
  return { pid, comm: text.slice(open + 1, close), state: rest[0] ?? "?", ppid };
}

/** Clock ticks per second in /proc/<pid>/stat (USER_HZ: 100 on every Linux architecture husk runs on). */
const CLK_TCK = 100;

export interface StatTimes {
  /** Controlling terminal device number (0: none). */
  ttyNr: number;
  /** utime + stime, in clock ticks. */
  cpuTicks: number;
  /** Start time after boot, in clock ticks. */
  startTicks: number;
}

/** The times and terminal of /proc/<pid>/stat (fields 7, 14, 15 and 22); null when the line is short. */
export function parseStatTimes(text: string): StatTimes | null {
  const close = text.lastIndexOf(")");
  if (close < 0) return null;
  const rest = text.slice(close + 2).split(" ");
  // rest[0] is field 3 (state).
  const [ttyNr, utime, stime, start] = [rest[4], rest[11], rest[12], rest[19]].map(Number);
  if (![ttyNr, utime, stime, start].every((n) => Number.isInteger(n))) return null;
  return { ttyNr: ttyNr!, cpuTicks: utime! + stime!, startTicks: start! };
}

/** A tty_nr as ps prints it: pts/N, ttyN, ttySN, or undefined for none or an unknown device. */
export function ttyName(ttyNr: number): string | undefined {
  if (ttyNr === 0) return undefined;
  const major = (ttyNr >> 8) & 0xfff;
  const minor = (ttyNr & 0xff) | ((ttyNr >> 12) & 0xfff00);
  if (major >= 136 && major <= 143) return `pts/${(major - 136) * 256 + minor}`;
  if (major === 4) return minor < 64 ? `tty${minor}` : `ttyS${minor - 64}`;
  if (major === 5 && minor === 1) return "console";
  if (major === 204 && minor >= 64) return `ttyAMA${minor - 64}`;
  return undefined;
}

/** The boot time of the (guest) kernel, Unix seconds: `btime` in /proc/stat. */
export async function bootTime(procRoot = "/proc"): Promise<number | undefined> {
  const m = /^btime\s+(\d+)/m.exec((await readText(join(procRoot, "stat"))) ?? "");
  return m ? Number(m[1]) : undefined;
}

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return null;
  }
}

/** One process as ps shows it; `btime` (the boot time, from bootTime) dates its start. */
export async function processInfo(pid: number, procRoot = "/proc", btime?: number): Promise<ProcessInfo | null> {
  const stat = await readText(join(procRoot, String(pid), "stat"));
  const fields = stat === null ? null : parseStat(stat);
  if (!fields) return null;
  const status = (await readText(join(procRoot, String(pid), "status"))) ?? "";
  const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
  const cmdline = (await readText(join(procRoot, String(pid), "cmdline"))) ?? "";
  const command = cmdline.replace(/\0+$/, "").replaceAll("\0", " ") || `[${fields.comm}]`;
  const info: ProcessInfo = { pid, ppid: fields.ppid, state: fields.state.slice(0, 8), command: command.slice(0, 4096) };
  if (uid !== undefined) info.user = uid;
  const times = stat === null ? null : parseStatTimes(stat);
  if (times) {
    const tty = ttyName(times.ttyNr);
    if (tty) info.tty = tty;
    info.cpuSeconds = times.cpuTicks / CLK_TCK;
    if (btime !== undefined) info.startTime = btime + Math.floor(times.startTicks / CLK_TCK);
  }
  return info;
}

/** The cgroup v2 path of a process ("0::/path" in /proc/<pid>/cgroup). */
export async function cgroupOf(pid: number, procRoot = "/proc"): Promise<string | null> {
  const text = await readText(join(procRoot, String(pid), "cgroup"));
  const line = text?.split("\n").find((l) => l.startsWith("0::"));
  return line ? line.slice(3) : null;
}

export function parseKeyValues(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [k, val] = line.trim().split(/\s+/);
    if (k && val !== undefined && /^\d+$/.test(val)) out.set(k, Number(val));
  }
  return out;
}

function parseLimit(text: string | null): number | undefined {
  const t = text?.trim();
  return t && /^\d+$/.test(t) ? Math.min(Number(t), Number.MAX_SAFE_INTEGER) : undefined;
}

/** Stats of one cgroup v2 directory. Missing controllers read as zero. */
export async function cgroupStats(dir: string): Promise<Stats> {
  const cpu = parseKeyValues((await readText(join(dir, "cpu.stat"))) ?? "");
  const memLimit = parseLimit(await readText(join(dir, "memory.max")));
  const pidsLimit = parseLimit(await readText(join(dir, "pids.max")));
  const stats: Stats = {
    cpu: { usageUsec: cpu.get("usage_usec") ?? 0, userUsec: cpu.get("user_usec") ?? 0, systemUsec: cpu.get("system_usec") ?? 0 },
    memory: { usageBytes: parseLimit(await readText(join(dir, "memory.current"))) ?? 0 },
    pids: { current: parseLimit(await readText(join(dir, "pids.current"))) ?? 0 },
  };
  if (memLimit !== undefined) stats.memory.limitBytes = memLimit;
  if (pidsLimit !== undefined) stats.pids.limit = pidsLimit;
  return stats;
}

export async function guestDetails(agentVersion: string, procRoot = "/proc"): Promise<GuestDetails> {
  const mem = parseKeyValues(((await readText(join(procRoot, "meminfo"))) ?? "").replaceAll(":", "").replaceAll(" kB", ""));
  const cpuinfo = (await readText(join(procRoot, "cpuinfo"))) ?? "";
  const uptime = Number(((await readText(join(procRoot, "uptime"))) ?? "0").split(" ")[0]);
  return {
    agentVersion: agentVersion.slice(0, 64),
    kernelRelease: ((await readText(join(procRoot, "sys/kernel/osrelease"))) ?? "unknown").trim().slice(0, 128),
    cpus: Math.max(1, (cpuinfo.match(/^processor\s*:/gm) ?? []).length),
    memTotalKiB: mem.get("MemTotal") ?? 0,
    memFreeKiB: mem.get("MemAvailable") ?? mem.get("MemFree") ?? 0,
    uptimeSec: Number.isFinite(uptime) ? uptime : 0,
  };
}
