import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostCgroupDirs, parseCgroupMounts } from "../../../src/host/cgroup.ts";
import { canRun, ensureTemplate, HUSK, makeEnv, processesOf, type E2eEnv } from "../env.ts";
import { buildBusyboxImage } from "./oci-image.ts";

/**
 * containerd driving husk as its shim v2 (`ctr run --runtime
 * io.containerd.husk.v2`): a private containerd (root, state, sockets in a
 * temp dir) in a private mount namespace, `containerd-shim-husk-v2` a symlink
 * to dist/husk on containerd's PATH, husk's root private too (HUSK_CONFIG).
 */

const haveCtr = Bun.which("containerd") !== null && Bun.which("ctr") !== null && Bun.which("unshare") !== null;
if (!haveCtr) console.warn("SKIP ctr shim v2 test: containerd/ctr/unshare not installed");

let env: E2eEnv;
let dir: string;

/** Processes whose command line mentions s (this test's own dirs). */
function processesMentioning(s: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmd.includes(s)) out.push(`${pid} ${cmd}`);
    } catch {
      // gone
    }
  }
  return out;
}

describe.skipIf(!canRun || !haveCtr)("ctr with husk as shim v2 (io.containerd.husk.v2)", () => {
  beforeAll(() => {
    env = makeEnv("ctr-shimv2");
    ensureTemplate(env);
    dir = mkdtempSync(join(tmpdir(), "husk-ctr2-"));
  });
  afterAll(async () => {
    // Shim servers a failed run left (containerd is gone, so nobody will shut them down).
    for (const line of processesMentioning(dir)) process.kill(Number(line.split(" ")[0]), "SIGTERM");
    await env.cleanup();
    rmSync(dir, { recursive: true, force: true });
    for (const { dir: cg } of hostCgroupDirs("husk-test", parseCgroupMounts(readFileSync("/proc/self/mountinfo", "utf8")))) {
      try {
        rmdirSync(cg);
      } catch {
        // absent, or busy with something else
      }
    }
  });

  test("run --rm (output, exit code, stdin, binary:// log), -t, run -d + exec + ps + kill + delete, metrics, pause/resume, OOM, shim killed, QEMU killed, containerd restarted, events in order, nothing left", {
    timeout: 600_000,
  }, async () => {
    const tar = buildBusyboxImage(join(dir, "img"), "docker.io/library/busybox:husk");
    const p = Bun.spawn(["unshare", "-m", "--propagation", "private", join(import.meta.dir, "ctr-shimv2.sh"), dir, HUSK, tar, env.root], {
      env: { ...process.env, HUSK_CONFIG: env.config },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code !== 0)
      console.error(
        out,
        err,
        await Bun.file(join(dir, "containerd.log"))
          .text()
          .catch(() => ""),
      );
    expect(code).toBe(0);
    expect(out).toContain("hello from shim v2\nexit=3");
    expect(out).toContain("exec-ok\nexec-exit=5");
    expect(out).toMatch(/pids=[1-9]/);
    expect(out).toContain("boot=clone"); // the pod's VM is a clone of the template made in beforeAll
    expect(out).toContain("t2-before=RUNNING");
    expect(out).toContain("t2=STOPPED");
    expect(out).toContain("got=piped-in"); // stdin through the fifo, EOF after CloseIO
    expect(out).toContain("binlog: who=husk-test/bl1 out=to-out err=to-err"); // ctr run --log-uri binary://
    expect(out).toContain("/dev/pts/0"); // ctr run -t: a terminal in the guest
    expect(out).toContain("tty-exit=4");
    expect(out).toMatch(/metric pids.current=[1-9]/); // ctr task metrics: the guest's cgroup v2 numbers
    expect(out).toMatch(/metric memory.usage=[1-9]\d*/);
    expect(out).toContain("m1-paused=PAUSED");
    expect(out).toContain("m1-resumed=RUNNING");
    // The shim server SIGKILLed: containerd sees the task exit, its `delete` call removes the VM.
    expect(out).toMatch(/k1-after-kill=(STOPPED|gone)/);
    expect(out).not.toContain("resize pty"); // ctr -t resizes as the process may already be gone: no error
    // QEMU SIGKILLed: the container exits (137), delete cleans up.
    expect(out).toContain("q1-after-qemu-kill=STOPPED");
    // containerd restarted: it reconnects to the running shim (<bundle>/address, Connect), which keeps serving.
    expect(out).toContain("r1-after-restart=RUNNING");
    expect(out).toContain("exec-after-restart");

    // ctr events decodes every task event (type_url the bare name), in order.
    const events = out.slice(out.indexOf("== events"));
    const topics = (id: string) =>
      events
        .split("\n")
        .filter((l) => l.includes("/tasks/") && l.includes(`"container_id":"${id}"`))
        .map((l) => /\/tasks\/[a-z-]+/.exec(l)![0]);
    expect(topics("t1")).toEqual(["/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"]);
    expect(events).toMatch(/\/tasks\/exit \{"container_id":"t1","id":"t1","pid":\d+,"exit_status":3,/);
    expect(topics("t2")).toEqual([
      "/tasks/create",
      "/tasks/start",
      "/tasks/exec-added",
      "/tasks/exec-started",
      "/tasks/exit",
      "/tasks/exit",
      "/tasks/delete",
    ]);
    expect(events).toMatch(/"exec_id":"e1".*\n.*"id":"e1","pid":\d+,"exit_status":5/);
    expect(events).toMatch(/\/tasks\/exit \{"container_id":"t2","id":"t2","pid":\d+,"exit_status":137,/);
    expect(topics("m1")).toEqual(["/tasks/create", "/tasks/start", "/tasks/paused", "/tasks/resumed", "/tasks/exit", "/tasks/delete"]);
    expect(events).toMatch(/\/tasks\/exit \{"container_id":"k1","id":"k1",("pid":\d+,)?"exit_status":137/);
    expect(events).toMatch(/\/tasks\/exit \{"container_id":"q1","id":"q1","pid":\d+,"exit_status":137/);
    expect(topics("r1")).toEqual([
      "/tasks/create",
      "/tasks/start",
      "/tasks/exec-added",
      "/tasks/exec-started",
      "/tasks/exit",
      "/tasks/exit",
      "/tasks/delete",
    ]);

    // An exec'd memory hog over the 40 MiB limit: OOM-killed in the guest, TaskOOM published.
    expect(out).toContain("hog-exit=137");
    expect(events).toContain('/tasks/oom {"container_id":"o1"}');
    // Nothing left behind: no shim server, no VM, no sandbox, no socket.
    expect(processesMentioning(dir)).toEqual([]);
    expect(processesOf(env.root)).toEqual([]);
    expect(readdirSync(join(env.root, "sandboxes"))).toEqual([]);
    expect(existsSync(join(env.root, "s")) ? readdirSync(join(env.root, "s")) : []).toEqual([]);
    expect(out).toContain("mounts=0"); // counted inside the test's mount namespace
  });
});
