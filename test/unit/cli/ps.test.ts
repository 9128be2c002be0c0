import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bootTime, parseStatTimes, processInfo, ttyName } from "../../../src/agent/server/procfs.ts";
import type { ProcessInfo } from "../../../src/core/api.ts";
import { containerUsers, formatPs, psColumns } from "../../../src/cli/lib/ps.ts";

/** husk ps: ps -ef columns built from the guest's process list, ps's arguments read as ps reads them. */

const now = new Date(2026, 11, 4, 20, 30, 0).getTime() / 1000;
const procs: ProcessInfo[] = [
  {
    pid: 7,
    ppid: 1,
    user: "1000",
    state: "R",
    command: "/bin/dd if=/dev/zero of=/dev/null",
    tty: "pts/0",
    startTime: now - 100,
    cpuSeconds: 50.5,
  },
  { pid: 1, ppid: 0, user: "0", state: "S", command: "/bin/sh -c sleep 1000", startTime: now - 3 * 86400, cpuSeconds: 3725 },
];
const ctx = { now, users: new Map([["0", "root"]]) };
const lines = (cols: ReturnType<typeof psColumns>, list = procs) =>
  formatPs(cols, list, ctx)
    .trimEnd()
    .split("\n")
    .map((l) => l.trim().split(/\s+/));

describe("ps columns", () => {
  test("no arguments: runc's default, ps -ef (UID PID PPID C STIME TTY TIME CMD), sorted by pid", () => {
    const out = lines(psColumns([]));
    expect(out[0]).toEqual(["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
    expect(out[1]).toEqual(["root", "1", "0", "1", "Dec01", "?", "01:02:05", "/bin/sh", "-c", "sleep", "1000"]);
    expect(out[2]).toEqual(["1000", "7", "1", "50", "20:28", "pts/0", "00:00:50", "/bin/dd", "if=/dev/zero", "of=/dev/null"]);
    expect(psColumns(["-ef"]).map((c) => c.header)).toEqual(out[0]!);
    expect(psColumns(["-e", "-f"]).map((c) => c.header)).toEqual(out[0]!);
  });
  test("columns line up as procps' do (widths taken from ps -ef and ps x on Debian 12)", () => {
    const full = formatPs(psColumns([]), procs, ctx).split("\n");
    expect(full[0]).toBe("UID        PID  PPID  C STIME TTY          TIME CMD");
    expect(full[1]).toBe("root         1     0  1 Dec01 ?        01:02:05 /bin/sh -c sleep 1000");
    const bsd = formatPs(psColumns(["x"]), procs, ctx).split("\n");
    expect(bsd[0]).toBe("  PID TTY      STAT   TIME COMMAND");
    expect(bsd[1]).toBe("    1 ?        S     62:05 /bin/sh -c sleep 1000");
    expect(formatPs(psColumns(["-e"]), procs, ctx).split("\n")[0]).toBe("  PID TTY          TIME CMD");
  });
  test("selection options are accepted (the list is the container's); the default format follows ps", () => {
    expect(psColumns(["-e"]).map((c) => c.header)).toEqual(["PID", "TTY", "TIME", "CMD"]);
    expect(psColumns(["-e", "-x"]).map((c) => c.header)).toEqual(["PID", "TTY", "STAT", "TIME", "COMMAND"]);
    expect(psColumns(["ax"]).map((c) => c.header)).toEqual(["PID", "TTY", "STAT", "TIME", "COMMAND"]);
    expect(lines(psColumns(["-A"]))[2]).toEqual(["7", "pts/0", "00:00:50", "dd"]);
  });
  test("-o / o / --format with keywords, aliases and header overrides", () => {
    expect(psColumns(["-o", "pid,ppid,user,args"]).map((c) => c.header)).toEqual(["PID", "PPID", "USER", "COMMAND"]);
    expect(psColumns(["-opid=P", "-o", "comm"]).map((c) => c.header)).toEqual(["P", "COMMAND"]);
    expect(psColumns(["--format=pid,stat,etime"]).map((c) => c.header)).toEqual(["PID", "STAT", "ELAPSED"]);
    expect(psColumns(["o", "pid,%cpu,cmd"]).map((c) => c.header)).toEqual(["PID", "%CPU", "CMD"]);
    expect(lines(psColumns(["-o", "pid,etime,pcpu"]))[1]).toEqual(["1", "3-00:00:00", "1.4"]);
  });
  test("what a VM's process list cannot answer is refused, naming the option", () => {
    expect(() => psColumns(["-l"])).toThrow("option -l is not supported");
    expect(() => psColumns(["aux"])).toThrow("option u (in aux)");
    expect(() => psColumns(["--sort=pid"])).toThrow("--sort=pid");
    expect(() => psColumns(["-o", "rss"])).toThrow('keyword "rss"');
    expect(() => psColumns(["-o"])).toThrow("needs a format");
  });
  test("missing times (an older agent) print as -", () => {
    const out = lines(psColumns([]), [{ pid: 3, command: "[kthreadd]" }]);
    expect(out[1]).toEqual(["?", "3", "?", "-", "-", "?", "-", "[kthreadd]"]);
  });
});

describe("guest /proc times", () => {
  test("stat fields 7, 14+15 and 22; tty names as ps prints them", () => {
    const stat = "42 (sh (x)) S 1 42 42 34816 42 4194560 300 0 0 0 250 70 0 0 20 0 1 0 12345 4096000 200";
    expect(parseStatTimes(stat)).toEqual({ ttyNr: 34816, cpuTicks: 320, startTicks: 12345 });
    expect(parseStatTimes("12 (sleep) S 1 12 12 0")).toBeNull();
    expect(ttyName(34816)).toBe("pts/0");
    expect(ttyName((136 << 8) | 5)).toBe("pts/5");
    expect(ttyName((4 << 8) | 64)).toBe("ttyS0");
    expect(ttyName((4 << 8) | 1)).toBe("tty1");
    expect(ttyName(0)).toBeUndefined();
  });
  test("processInfo dates the start from btime", async () => {
    const proc = mkdtempSync(join(tmpdir(), "husk-ps-proc-"));
    try {
      mkdirSync(join(proc, "42"));
      writeFileSync(join(proc, "stat"), "cpu 1 2 3\nbtime 1700000000\nprocesses 9\n");
      writeFileSync(join(proc, "42/stat"), "42 (sh) S 1 42 42 34816 42 4194560 300 0 0 0 250 70 0 0 20 0 1 0 12345 4096000 200");
      writeFileSync(join(proc, "42/status"), "Uid:\t0\t0\t0\t0\n");
      writeFileSync(join(proc, "42/cmdline"), "sh\0-c\0true\0");
      const btime = await bootTime(proc);
      expect(btime).toBe(1700000000);
      expect(await processInfo(42, proc, btime)).toEqual({
        pid: 42,
        ppid: 1,
        state: "S",
        command: "sh -c true",
        user: "0",
        tty: "pts/0",
        cpuSeconds: 3.2,
        startTime: 1700000123,
      });
    } finally {
      rmSync(proc, { recursive: true, force: true });
    }
  });
});

describe("user names from the container's /etc/passwd", () => {
  test("read from the rootfs; a symlinked passwd or etc (which could name a host file) is not followed", () => {
    const dir = mkdtempSync(join(tmpdir(), "husk-ps-users-"));
    try {
      mkdirSync(join(dir, "a/etc"), { recursive: true });
      writeFileSync(join(dir, "a/etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/:/bin/false\nbroken\n");
      expect([...containerUsers(join(dir, "a"))]).toEqual([
        ["0", "root"],
        ["33", "www"],
      ]);
      mkdirSync(join(dir, "b/etc"), { recursive: true });
      symlinkSync(join(dir, "a/etc/passwd"), join(dir, "b/etc/passwd"));
      expect(containerUsers(join(dir, "b")).size).toBe(0);
      mkdirSync(join(dir, "c"));
      symlinkSync(join(dir, "a/etc"), join(dir, "c/etc"));
      expect(containerUsers(join(dir, "c")).size).toBe(0);
      expect(containerUsers(join(dir, "missing")).size).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
