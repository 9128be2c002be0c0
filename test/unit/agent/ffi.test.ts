import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  closeFd,
  decodeWaitStatus,
  isNotChild,
  makePipe,
  openPty,
  reapPid,
  setChildSubreaper,
  setWindowSize,
} from "../../../src/host/ffi/process.ts";
import { acceptUnix, closeSocket, listenUnix, recvFd, sendFd } from "../../../src/host/ffi/scm.ts";
import { sleep } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "husk-ffi-"));
// Tests below make this (shared) test process a subreaper; undo it so later
// test files' detached processes are adopted by init, as in real use.
afterAll(() => {
  setChildSubreaper(false);
  rmSync(dir, { recursive: true, force: true });
});

describe("scm", () => {
  test("an fd sent over a unix socket arrives and works", async () => {
    const path = join(dir, "console.sock");
    const lfd = listenUnix(path);
    expect(acceptUnix(lfd)).toBeNull();
    const pipe = makePipe();
    sendFd(path, pipe.write, "/dev/pts/9");
    const conn = acceptUnix(lfd);
    expect(conn).not.toBeNull();
    const got = recvFd(conn!);
    expect(got).not.toBeNull();
    expect(got!.payload).toBe("/dev/pts/9");
    expect(got!.fd).not.toBe(pipe.write);
    closeFd(pipe.write);
    // Write through the received copy, read from the original pipe.
    const w = Bun.file(got!.fd).writer();
    w.write("through scm");
    await w.flush();
    await w.end();
    closeFd(got!.fd);
    const text = await new Response(Bun.file(pipe.read).stream()).text();
    expect(text).toBe("through scm");
    closeFd(pipe.read);
    closeSocket(conn!);
    closeSocket(lfd);
  });

  test("recvFd reports nothing yet on an idle connection and fails when the peer closes empty", async () => {
    const path = join(dir, "idle.sock");
    const lfd = listenUnix(path);
    const client = Bun.connect({ unix: path, socket: { data() {} } });
    const sock = await client;
    let conn: number | null = null;
    for (let i = 0; i < 50 && conn === null; i++) {
      conn = acceptUnix(lfd);
      if (conn === null) await sleep(5);
    }
    expect(recvFd(conn!)).toBeNull();
    sock.end();
    await sleep(20);
    expect(() => recvFd(conn!)).toThrow(/closed without sending/);
    closeSocket(conn!);
    closeSocket(lfd);
  });
});

describe("process", () => {
  test("wait status decoding", () => {
    expect(decodeWaitStatus(5, 3 << 8)).toEqual({ pid: 5, exitCode: 3 });
    expect(decodeWaitStatus(5, 9)).toEqual({ pid: 5, exitCode: 137, signal: 9 });
  });

  test("subreaper: an orphaned grandchild is reaped by pid with its exit code", async () => {
    setChildSubreaper();
    const sh = Bun.spawn(["sh", "-c", "(sleep 0.1; exit 7) & echo $!"], { stdout: "pipe" });
    const pid = Number((await new Response(sh.stdout).text()).trim());
    await sh.exited;
    let res = reapPid(pid);
    for (let i = 0; i < 100 && res === null; i++) {
      await sleep(10);
      res = reapPid(pid);
    }
    expect(res).toEqual({ pid, exitCode: 7 });
    let err: unknown;
    try {
      reapPid(pid);
    } catch (e) {
      err = e;
    }
    expect(isNotChild(err)).toBe(true);
  });

  test("a pty gets its window size", async () => {
    const { master, slavePath } = openPty();
    expect(slavePath).toMatch(/^\/dev\/pts\/\d+$/);
    setWindowSize(master, 33, 101);
    const p = Bun.spawn(["sh", "-c", `stty size < ${slavePath}`], { stdout: "pipe" });
    expect((await new Response(p.stdout).text()).trim()).toBe("33 101");
    closeFd(master);
  });
});

describe("orphan sweeper", () => {
  test("reaps an adopted zombie after it stayed one for an interval, never a watched or Bun-owned pid", async () => {
    const { OrphanSweeper, ownChildren } = await import("../../../src/agent/server/orphans.ts");
    setChildSubreaper();
    // Two children that outlive their parent shell: re-parented to us, then zombies.
    const orphanMaker = Bun.spawn(["sh", "-c", "sh -c 'sleep 0.05; exit 4' & echo $!; sh -c 'sleep 0.05; exit 5' & echo $!"], {
      stdout: "pipe",
    });
    const [a, b] = (await new Response(orphanMaker.stdout).text()).trim().split("\n").map(Number);
    await orphanMaker.exited;
    await sleep(300); // both exited: zombies, children of this process now
    const sweeper = new OrphanSweeper((pid) => pid === b);
    expect(await sweeper.sweep()).toEqual([]); // first sighting: wait
    expect(ownChildren.has(a!)).toBe(false);
    expect(await sweeper.sweep()).toEqual([a!]);
    // b is "watched": left for its watcher
    expect(reapPid(b!)).toEqual({ pid: b!, exitCode: 5 });
  });
});
