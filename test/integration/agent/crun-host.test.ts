import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connectAgent, type AgentClient } from "../../../src/agent/client.ts";
import type { OciSpec } from "../../../src/oci/spec.ts";

/**
 * The real agent (runAgent --listen) with the real CrunRuntime on this host,
 * in a private mount namespace where the cgroup2 mount is hidden (crun 1.8
 * refuses the host's hybrid layout otherwise). Same code path as in the
 * guest, minus the virtio-serial port and the guest's mounts.
 */

const BUSYBOX = "/bin/busybox";
const why = (() => {
  if (process.getuid?.() !== 0) return "needs root";
  if (!Bun.which("crun")) return "crun is not installed";
  if (!Bun.which("unshare")) return "unshare is not installed";
  if (!existsSync(BUSYBOX)) return "busybox-static is not installed";
  return null;
})();
if (why) console.warn(`SKIP crun-host agent tests: ${why}`);

const dir = mkdtempSync(join(tmpdir(), "husk-agent-crun-"));
const sock = join(dir, "agent.sock");
const rootfs = join(dir, "rootfs");
let agentProc: ReturnType<typeof Bun.spawn> | undefined;
let agent: AgentClient;
let baseSpec: OciSpec;
const user = { uid: 0, gid: 0 };

beforeAll(async () => {
  if (why) return;
  mkdirSync(join(rootfs, "bin"), { recursive: true });
  for (const d of ["proc", "dev", "sys", "tmp"]) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, "bin/busybox"));
  for (const c of ["sh", "sleep", "cat", "echo", "true", "stty", "ps", "yes", "head", "ls", "tty"])
    symlinkSync("busybox", join(rootfs, "bin", c));
  Bun.spawnSync(["crun", "spec"], { cwd: dir });
  baseSpec = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
  baseSpec.root = { path: rootfs, readonly: false };
  delete (baseSpec.process as Record<string, unknown>).rlimits;
  const entry = resolve(import.meta.dir, "../../../src/agent/server/index.ts");
  const script = `import { runAgent } from ${JSON.stringify(entry)}; await runAgent(["--listen", ${JSON.stringify(sock)}, "--state-dir", ${JSON.stringify(join(dir, "state"))}]);`;
  agentProc = Bun.spawn(
    [
      "unshare",
      "-m",
      "sh",
      "-c",
      `for m in $(grep ' cgroup2 ' /proc/self/mounts | cut -d' ' -f2); do umount "$m"; done; exec "$0" -e "$1"`,
      process.execPath,
      script,
    ],
    { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, HUSK_LOG_LEVEL: "3" } },
  );
  for (let i = 0; i < 200 && !existsSync(sock); i++) await Bun.sleep(25);
  agent = await connectAgent(sock);
});

afterAll(async () => {
  await agent?.close();
  agentProc?.kill(9);
  await agentProc?.exited;
  rmSync(dir, { recursive: true, force: true });
});

function spec(args: string[]): OciSpec {
  return { ...baseSpec, process: { ...baseSpec.process!, args, terminal: false } };
}

describe.skipIf(why !== null)("agent + crun on the host", () => {
  test("run: stdout and stderr come back, exit code 3", async () => {
    const io = agent.openStdio({ terminal: false, stdin: false, stdout: true, stderr: true });
    const exited = new Promise((r) => agent.on("processExit", (e) => e.containerId === "run1" && r(e)));
    await agent.call("createContainer", {
      containerId: "run1",
      spec: spec(["sh", "-c", "echo to-out; echo to-err >&2; exit 3"]),
      stdio: io.stdio,
    });
    await agent.call("startContainer", { containerId: "run1" });
    const [out, err] = await Promise.all([new Response(io.streams.stdout).text(), new Response(io.streams.stderr).text()]);
    expect(out).toBe("to-out\n");
    expect(err).toBe("to-err\n");
    expect(await exited).toEqual({ containerId: "run1", exitCode: 3 });
    expect(await agent.call("waitProcess", { containerId: "run1" })).toEqual({ exitCode: 3 });
    await agent.call("removeContainer", { containerId: "run1" });
  });

  test("exec, list processes, pause/resume, terminal, SIGTERM and SIGKILL", async () => {
    await agent.call("createContainer", { containerId: "long", spec: spec(["sleep", "300"]), stdio: { terminal: false } });
    await agent.call("startContainer", { containerId: "long" });

    const io = agent.openStdio({ terminal: false, stdin: true, stdout: true, stderr: false });
    await agent.call("exec", { containerId: "long", execId: "cat", process: { args: ["cat"], cwd: "/", user }, stdio: io.stdio });
    const w = io.streams.stdin!.getWriter();
    await w.write(new TextEncoder().encode("through crun exec"));
    await w.close();
    expect(await new Response(io.streams.stdout).text()).toBe("through crun exec");
    expect(await agent.call("waitProcess", { containerId: "long", execId: "cat" })).toEqual({ exitCode: 0 });

    const ps = await agent.call("listProcesses", { containerId: "long" });
    expect(ps.processes.map((p) => p.command)).toContain("sleep 300");

    await agent.call("pauseContainer", { containerId: "long" });
    await agent.call("resumeContainer", { containerId: "long" });

    const tty = agent.openStdio({ terminal: true, stdin: true, stdout: true, stderr: false, rows: 40, cols: 100 });
    await agent.call("exec", {
      containerId: "long",
      execId: "tty",
      process: { args: ["sh", "-c", "stty size; exit 5"], cwd: "/", user },
      stdio: tty.stdio,
    });
    expect(await new Response(tty.streams.stdout).text()).toContain("40 100");
    expect(await agent.call("waitProcess", { containerId: "long", execId: "tty" })).toEqual({ exitCode: 5 });

    await agent.call("exec", {
      containerId: "long",
      execId: "victim",
      process: { args: ["sleep", "300"], cwd: "/", user },
      stdio: { terminal: false },
    });
    await agent.call("signalProcess", { containerId: "long", execId: "victim", signal: 9 });
    expect(await agent.call("waitProcess", { containerId: "long", execId: "victim" })).toEqual({ exitCode: 137 });

    await agent.call("signalProcess", { containerId: "long", signal: 15 });
    // sleep as pid 1 of its namespace ignores SIGTERM (no handler): the kernel drops it. SIGKILL works.
    await Bun.sleep(200);
    await agent.call("signalProcess", { containerId: "long", signal: 9 });
    expect(await agent.call("waitProcess", { containerId: "long" })).toEqual({ exitCode: 137, signal: 9 });
    await agent.call("removeContainer", { containerId: "long" });
  }, 30_000);

  test("a bad spec fails with crun's message and leaves no container", async () => {
    const bad = spec(["/nonexistent"]);
    const err = await agent
      .call("createContainer", { containerId: "bad", spec: bad, stdio: { terminal: false } })
      .then(async () => agent.call("startContainer", { containerId: "bad" }))
      .catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/crun (create|start) failed/);
  });
});
