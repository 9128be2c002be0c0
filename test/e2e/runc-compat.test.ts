import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { acceptUnix, closeSocket, listenUnix, recvFd } from "../../src/host/ffi/scm.ts";
import { alive, canRun, HUSK, husk, leftovers, makeBundle, makeEnv, waitFor, type E2eEnv, type Ran } from "./env.ts";

/**
 * What scripts and containerd's runc shim rely on, through the compiled
 * binary on real VMs: `$(husk create --console-socket …)` returns when husk
 * does; signal 0; kill --all of a stopped container; exec into a created
 * container; ps in every state, with ps arguments; runc's exit codes.
 */

let env: E2eEnv;
const T = 300_000;

/** A console socket that takes the pty master husk's shim sends, as containerd's shim and podman's conmon do. */
function consoleReceiver(path: string) {
  const listenFd = listenUnix(path);
  let conn: number | null = null;
  let master: number | null = null;
  const got = (async () => {
    for (;;) {
      conn ??= acceptUnix(listenFd);
      if (conn !== null) {
        const r = recvFd(conn);
        if (r) return (master = r.fd);
      }
      await Bun.sleep(20);
    }
  })();
  return {
    master: () => Promise.race([got, Bun.sleep(T).then(() => Promise.reject(new Error("no pty master came")))]),
    close() {
      if (master !== null) closeSync(master);
      if (conn !== null) closeSocket(conn);
      closeSocket(listenFd);
    },
  };
}

/**
 * husk with stdout and stderr on pipes, as `out=$(husk …)` runs it; how
 * long after husk's exit the pipes reached EOF (a child holding them would
 * keep the caller waiting).
 */
async function captured(args: string[]): Promise<Ran & { lingerMs: number }> {
  const p = Bun.spawn([HUSK, ...env.globals, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const killer = setTimeout(() => p.kill("SIGKILL"), 240_000);
  const code = await p.exited;
  clearTimeout(killer);
  const exitedAt = performance.now();
  const eof = Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const held = Bun.sleep(20_000).then(() => null);
  const r = await Promise.race([eof, held]);
  const lingerMs = performance.now() - exitedAt;
  if (r === null) return { code, stdout: "", stderr: "(stdout/stderr still open 20 s after husk exited)", lingerMs };
  return { code, stdout: r[0], stderr: r[1], lingerMs };
}

const header = (out: string) => out.split("\n")[0]!.trim().split(/\s+/);
const rows = (out: string) => out.trim().split("\n").slice(1).filter(Boolean);

describe.skipIf(!canRun)("runc compatibility for scripts and shims", () => {
  beforeAll(() => {
    env = makeEnv("compat");
  });
  afterAll(async () => {
    await env.cleanup();
  });

  test("created: $(husk create --console-socket) returns at once; exec into it; ps; kill 0. Running: ps -ef columns and ps arguments. Exit codes. Stopped: kill --all, empty ps", {
    timeout: T,
  }, async () => {
    const bundle = makeBundle(env, "b1", ["sleep", "1000"], { terminal: true });
    const console_ = consoleReceiver(join(env.dir, "c1.sock"));
    try {
      const pidFile = join(env.dir, "c1.pid");
      const created = await captured([
        "create",
        "--bundle",
        bundle,
        "--console-socket",
        join(env.dir, "c1.sock"),
        "--pid-file",
        pidFile,
        "c1",
      ]);
      expect(created.stderr).toBe("");
      expect(created.code).toBe(0);
      expect(created.lingerMs).toBeLessThan(2000); // runc: the same; before: until the container was deleted
      await console_.master();
      const shim = Number(readFileSync(pidFile, "utf8"));
      expect(alive(shim)).toBe(true);

      // Created (not started): exec, ps and the liveness probe work as with runc.
      const hi = await husk(env, ["exec", "c1", "sh", "-c", "echo hi; exit 3"]);
      expect(hi).toMatchObject({ code: 3, stdout: "hi\n" });
      const psCreated = await husk(env, ["ps", "c1"]);
      expect(psCreated.code).toBe(0);
      expect(header(psCreated.stdout)).toEqual(["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
      expect(rows(psCreated.stdout).length).toBeGreaterThan(0);
      expect((await husk(env, ["kill", "c1", "0"])).code).toBe(0);
      expect((await husk(env, ["kill", "-a", "c1", "0"])).code).toBe(0);
      expect(JSON.parse((await husk(env, ["state", "c1"])).stdout).status).toBe("created");

      expect((await husk(env, ["start", "c1"])).code).toBe(0);
      // Running: runc's default ps -ef columns, the terminal named.
      const ps = await husk(env, ["ps", "c1"]);
      expect(ps.code).toBe(0);
      expect(header(ps.stdout)).toEqual(["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
      const sleep = rows(ps.stdout).find((l) => l.endsWith("sleep 1000"));
      expect(sleep).toBeDefined();
      const cells = sleep!.trim().split(/\s+/);
      expect(cells[0]).toBe("root"); // from the container's /etc/passwd
      expect(cells[4]).toMatch(/^(\d\d:\d\d|[A-Z][a-z]{2}\d\d)$/); // STIME
      expect(cells[5]).toMatch(/^pts\/\d+$/);
      expect(cells[6]).toMatch(/^\d\d:\d\d:\d\d$/);
      // ps arguments after the id, as runc passes them to ps.
      const ex = await husk(env, ["ps", "c1", "-e", "-x"]);
      expect(ex.code).toBe(0);
      expect(header(ex.stdout)).toEqual(["PID", "TTY", "STAT", "TIME", "COMMAND"]);
      const o = await husk(env, ["ps", "c1", "--", "-o", "pid,args"]);
      expect(o.code).toBe(0);
      expect(header(o.stdout)).toEqual(["PID", "COMMAND"]);
      expect(rows(o.stdout).some((l) => /^\s*\d+ sleep 1000$/.test(l))).toBe(true);
      const l = await husk(env, ["ps", "c1", "-l"]);
      expect(l.code).toBe(1);
      expect(l.stderr).toContain("ps: option -l is not supported");
      const json = JSON.parse((await husk(env, ["ps", "--format", "json", "c1"])).stdout);
      expect(json.length).toBeGreaterThan(0);
      expect(json.every((p: unknown) => Number.isInteger(p))).toBe(true);
      expect((await husk(env, ["kill", "c1", "0"])).code).toBe(0);
      expect((await husk(env, ["kill", "--all", "c1", "0"])).code).toBe(0);

      // Exit codes of a failed exec: 255, as runc.
      const missing = await husk(env, ["exec", "c1", "/no/such/binary"]);
      expect(missing.code).toBe(255);
      expect(missing.stderr).toContain("executable file `/no/such/binary` not found"); // crun's reason, as runc gives its own
      const badPid = await husk(env, ["exec", "--pid-file", join(env.dir, "no-dir", "e.pid"), "c1", "true"]);
      expect(badPid.code).toBe(255);
      expect(badPid.stderr).toContain(
        `cannot write pid file ${join(env.dir, "no-dir", "e.pid")}: directory ${join(env.dir, "no-dir")} does not exist`,
      );
      expect((await husk(env, ["exec", "nope", "true"])).code).toBe(255);
      const up = await husk(env, ["exec", "--cgroup", "..", "c1", "true"]);
      expect(up.code).toBe(255);
      expect(up.stderr).toContain("not a sub-cgroup of the container's cgroup");
      const sub = await husk(env, ["exec", "--cgroup", "nonexistent", "c1", "true"]);
      expect(sub.code).toBe(255);
      expect(sub.stderr).toContain("sub-cgroup is not supported");
      expect((await husk(env, ["exec", "--cgroup", "/", "c1", "true"])).code).toBe(0);

      // Stopped: kill --all succeeds (runc 1.1), the probe without --all does not, ps is empty.
      expect((await husk(env, ["kill", "c1", "KILL"])).code).toBe(0);
      await waitFor(
        async () => JSON.parse((await husk(env, ["state", "c1"])).stdout).status === "stopped" || undefined,
        60_000,
        "c1 stopped",
      );
      expect((await husk(env, ["kill", "-a", "c1", "0"])).code).toBe(0);
      expect((await husk(env, ["kill", "--all", "c1", "9"])).code).toBe(0);
      const probe = await husk(env, ["kill", "c1", "0"]);
      expect(probe.code).toBe(1);
      expect(probe.stderr).toContain("stopped");
      const psStopped = await husk(env, ["ps", "c1"]);
      expect(psStopped.code).toBe(0);
      expect(rows(psStopped.stdout)).toEqual([]);
      expect((await husk(env, ["ps", "-f", "json", "c1"])).stdout.trim()).toBe("[]");
      expect((await husk(env, ["exec", "c1", "true"])).code).toBe(255);
      expect((await husk(env, ["delete", "c1"])).code).toBe(0);
      await waitFor(() => !alive(shim) || undefined, 10_000, "c1's shim gone");
    } finally {
      console_.close();
    }
    expect(leftovers(env)).toEqual([]);
  });

  test("$(husk run -d --console-socket) returns at once; after the init dies, containerd's `kill --all ID 9` succeeds", {
    timeout: T,
  }, async () => {
    const bundle = makeBundle(env, "b2", ["sh", "-c", "sleep 1000"], { terminal: true });
    const console_ = consoleReceiver(join(env.dir, "c2.sock"));
    try {
      const pidFile = join(env.dir, "c2.pid");
      const run = await captured([
        "run",
        "-d",
        "--bundle",
        bundle,
        "--console-socket",
        join(env.dir, "c2.sock"),
        "--pid-file",
        pidFile,
        "c2",
      ]);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      expect(run.lingerMs).toBeLessThan(2000);
      await console_.master();
      const shim = Number(readFileSync(pidFile, "utf8"));
      expect(JSON.parse((await husk(env, ["state", "c2"])).stdout).status).toBe("running");
      // containerd's runc shim: kill ID 9, reap the init (our shim), then kill --all ID 9.
      expect((await husk(env, ["kill", "c2", "9"])).code).toBe(0);
      await waitFor(() => !alive(shim) || undefined, 60_000, "c2's shim exits");
      const all = await husk(env, ["kill", "--all", "c2", "9"]);
      expect(all.stderr).toBe("");
      expect(all.code).toBe(0);
      expect(JSON.parse((await husk(env, ["state", "c2"])).stdout).status).toBe("stopped");
      expect((await husk(env, ["delete", "c2"])).code).toBe(0);
    } finally {
      console_.close();
    }
    expect(leftovers(env)).toEqual([]);
  });

  test("a container without its own pid namespace: after its init exits, kill --all stops what it left behind, as runc's", {
    timeout: T,
  }, async () => {
    const bundle = makeBundle(env, "b3", [
      "sh",
      "-c",
      "(while :; do date +%s%N > /tmp/hb; sleep 0.2; done) </dev/null >/dev/null 2>&1 & exit 0",
    ]);
    const file = join(bundle, "config.json");
    const spec = JSON.parse(readFileSync(file, "utf8"));
    spec.root.readonly = false;
    spec.linux.namespaces = spec.linux.namespaces.filter((n: { type: string }) => n.type !== "pid");
    writeFileSync(file, JSON.stringify(spec));
    const hb = join(bundle, "rootfs", "tmp", "hb");
    const beat = () => (existsSync(hb) ? readFileSync(hb, "utf8") : "");
    const pidFile = join(env.dir, "c3.pid");
    expect((await husk(env, ["run", "-d", "--bundle", bundle, "--pid-file", pidFile, "c3"])).code).toBe(0);
    const shim = Number(readFileSync(pidFile, "utf8"));
    await waitFor(() => !alive(shim) || undefined, 60_000, "c3's init exits");
    // The loop its init left behind still runs in the guest.
    const first = await waitFor(() => beat() || undefined, 30_000, "a heartbeat");
    await waitFor(() => (beat() !== first ? true : undefined), 30_000, "the heartbeat going on");
    expect((await husk(env, ["kill", "--all", "c3", "9"])).code).toBe(0);
    expect(JSON.parse((await husk(env, ["state", "c3"])).stdout).status).toBe("stopped");
    await Bun.sleep(500);
    const after = beat();
    await Bun.sleep(2000);
    expect(beat()).toBe(after);
    expect((await husk(env, ["delete", "c3"])).code).toBe(0);
    expect(leftovers(env)).toEqual([]);
  });
});
