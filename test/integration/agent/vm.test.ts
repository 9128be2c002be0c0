import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectAgent, type AgentClient } from "../../../src/agent/client.ts";
import { QemuHypervisor } from "../../../src/hypervisor/qemu/index.ts";
import type { VmSpec } from "../../../src/hypervisor/types.ts";
import type { OciSpec } from "../../../src/oci/spec.ts";

/**
 * The agent in a real guest: boot the image with QEMU (TCG), talk to the
 * agent straight over the virtio-serial chardev (no monitor), and run
 * containers with crun in the guest. One VM for the whole file.
 * HUSK_IMAGE_DIR picks the image (default /var/lib/husk/image);
 * HUSK_AGENT_DIR a directory holding the husk binary to run as the agent
 * (default: the image's own agent directory).
 */

const IMAGE = process.env.HUSK_IMAGE_DIR ?? "/var/lib/husk/image";
interface Manifest {
  kernel: { path: string };
  initrd?: { path: string };
  agentDir?: string;
  machine: string;
  kernelParams: string[];
}
const manifest: Manifest | undefined = existsSync(join(IMAGE, "manifest.json"))
  ? JSON.parse(readFileSync(join(IMAGE, "manifest.json"), "utf8"))
  : undefined;
const agentDir = process.env.HUSK_AGENT_DIR ?? (manifest?.agentDir ? join(IMAGE, manifest.agentDir) : undefined);
const why = (() => {
  if (!Bun.which("qemu-system-x86_64")) return "qemu-system-x86_64 is not installed";
  if (!manifest) return `no guest image in ${IMAGE} (husk image build, or set HUSK_IMAGE_DIR)`;
  if (!agentDir || !existsSync(join(agentDir, "husk"))) return "no agent executable (image agent dir or HUSK_AGENT_DIR)";
  if (!existsSync("/bin/busybox")) return "busybox-static is not installed";
  return null;
})();
if (why) console.warn(`SKIP agent VM tests: ${why}`);

const work = mkdtempSync(join(tmpdir(), "husk-agent-vm-"));
let hv: QemuHypervisor | undefined;
let agent: AgentClient;
let vm: VmSpec;
const user = { uid: 0, gid: 0 };
const BOOT_MS = Number(process.env.HUSK_BOOT_TIMEOUT_MS ?? 180_000);

function rootfsFor(cid: string): string {
  const root = join(vm.sharedDir, cid, "rootfs");
  mkdirSync(join(root, "bin"), { recursive: true });
  for (const d of ["proc", "dev", "sys", "tmp"]) mkdirSync(join(root, d), { recursive: true });
  copyFileSync("/bin/busybox", join(root, "bin/busybox"));
  chmodSync(join(root, "bin/busybox"), 0o755);
  for (const c of ["sh", "sleep", "cat", "echo", "true", "stty", "yes", "head"]) symlinkSync("busybox", join(root, "bin", c));
  return `/run/husk/shared/${cid}/rootfs`;
}

function spec(cid: string, args: string[]): OciSpec {
  return {
    ociVersion: "1.0.2",
    root: { path: rootfsFor(cid), readonly: false },
    process: { args, cwd: "/", user, env: ["PATH=/bin"], terminal: false },
    hostname: cid,
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
      },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    ],
    linux: { namespaces: [{ type: "pid" }, { type: "mount" }, { type: "ipc" }, { type: "uts" }] },
  } as OciSpec;
}

beforeAll(async () => {
  if (why) return;
  const dir = join(work, "vm");
  mkdirSync(join(dir, "shared"), { recursive: true });
  vm = {
    sandboxId: "agentvm",
    dir,
    sharedDir: join(dir, "shared"),
    binary: "qemu-system-x86_64",
    kernel: join(IMAGE, manifest!.kernel.path),
    initrd: manifest!.initrd ? join(IMAGE, manifest!.initrd.path) : undefined,
    agentDir,
    machine: manifest!.machine,
    accelerator: "auto",
    vcpus: 1,
    memoryMiB: 512,
    kernelParams: manifest!.kernelParams,
    bootTimeoutMs: BOOT_MS,
    consoleLog: join(dir, "console.log"),
    qmpSocket: join(dir, "qmp.sock"),
    agentSocket: join(dir, "agent.sock"),
  };
  hv = new QemuHypervisor();
  await hv.prepare(vm);
  await hv.start();
  try {
    agent = await connectAgent(vm.agentSocket, { timeoutMs: BOOT_MS });
  } catch (e) {
    const tail = existsSync(vm.consoleLog) ? readFileSync(vm.consoleLog, "utf8").split("\n").slice(-30).join("\n") : "";
    throw new Error(`agent did not answer: ${e instanceof Error ? e.message : String(e)}\n${tail}`);
  }
}, BOOT_MS + 10_000);

afterAll(async () => {
  await agent?.close().catch(() => {});
  await hv?.stop({ timeoutMs: 5000 }).catch(() => {});
  await hv?.cleanup().catch(() => {});
  rmSync(work, { recursive: true, force: true });
}, 30_000);

describe.skipIf(why !== null)("agent in a real guest (QEMU/TCG, crun)", () => {
  test("version and guest details", async () => {
    expect((await agent.call("version", {})).protocolVersion).toBe(1);
    const d = await agent.call("guestDetails", {});
    expect(d.memTotalKiB).toBeGreaterThan(100_000);
    expect(d.kernelRelease.length).toBeGreaterThan(0);
  });

  test("a container prints to stdout and stderr and exits 3", async () => {
    const io = agent.openStdio({ terminal: false, stdin: false, stdout: true, stderr: true });
    await agent.call("createContainer", {
      containerId: "c3",
      spec: spec("c3", ["sh", "-c", "echo out; echo err >&2; exit 3"]),
      stdio: io.stdio,
    });
    await agent.call("startContainer", { containerId: "c3" });
    const [out, err] = await Promise.all([new Response(io.streams.stdout).text(), new Response(io.streams.stderr).text()]);
    expect(out).toBe("out\n");
    expect(err).toBe("err\n");
    expect(await agent.call("waitProcess", { containerId: "c3" })).toEqual({ exitCode: 3 });
    await agent.call("removeContainer", { containerId: "c3" });
  }, 60_000);

  test("exec, ps, stats, terminal, pause/resume stops progress, SIGKILL", async () => {
    const io = agent.openStdio({ terminal: false, stdin: false, stdout: true, stderr: false });
    await agent.call("createContainer", {
      containerId: "long",
      spec: spec("long", ["sh", "-c", "i=0; while true; do echo $i; i=$((i+1)); sleep 0.1; done"]),
      stdio: io.stdio,
    });
    await agent.call("startContainer", { containerId: "long" });
    const reader = io.streams.stdout!.getReader();
    let lines = 0;
    const counting = (async () => {
      for (;;) {
        const r = await reader.read().catch(() => ({ done: true as const, value: undefined }));
        if (r.done) return;
        lines += new TextDecoder().decode(r.value).split("\n").length - 1;
      }
    })();

    const cat = agent.openStdio({ terminal: false, stdin: true, stdout: true, stderr: false });
    await agent.call("exec", {
      containerId: "long",
      execId: "cat",
      process: { args: ["cat"], cwd: "/", user, env: ["PATH=/bin"] },
      stdio: cat.stdio,
    });
    const w = cat.streams.stdin!.getWriter();
    await w.write(new TextEncoder().encode("into the guest"));
    await w.close();
    expect(await new Response(cat.streams.stdout).text()).toBe("into the guest");
    expect(await agent.call("waitProcess", { containerId: "long", execId: "cat" })).toEqual({ exitCode: 0 });

    const ps = await agent.call("listProcesses", { containerId: "long" });
    expect(ps.processes.some((p) => p.command.startsWith("sh -c"))).toBe(true);
    const stats = await agent.call("stats", { containerId: "long" });
    expect(stats.pids.current).toBeGreaterThan(0);

    const tty = agent.openStdio({ terminal: true, stdin: false, stdout: true, stderr: false, rows: 30, cols: 90 });
    await agent.call("exec", {
      containerId: "long",
      execId: "tty",
      process: { args: ["stty", "size"], cwd: "/", user, env: ["PATH=/bin"] },
      stdio: tty.stdio,
    });
    expect(await new Response(tty.streams.stdout).text()).toContain("30 90");

    await agent.call("pauseContainer", { containerId: "long" });
    await Bun.sleep(300);
    const atPause = lines;
    await Bun.sleep(1500);
    expect(lines).toBe(atPause);
    await agent.call("resumeContainer", { containerId: "long" });
    await Bun.sleep(1500);
    expect(lines).toBeGreaterThan(atPause);

    await agent.call("signalProcess", { containerId: "long", signal: 9 });
    expect(await agent.call("waitProcess", { containerId: "long" })).toEqual({ exitCode: 137, signal: 9 });
    await counting;
    await agent.call("removeContainer", { containerId: "long" });
  }, 120_000);

  test("the host reconnecting to the port starts a new session; containers stay", async () => {
    await agent.call("createContainer", { containerId: "persist", spec: spec("persist", ["sleep", "600"]), stdio: { terminal: false } });
    await agent.call("startContainer", { containerId: "persist" });
    await agent.close();
    await Bun.sleep(300);
    agent = await connectAgent(vm.agentSocket, { timeoutMs: 30_000 });
    const ps = await agent.call("listProcesses", { containerId: "persist" });
    expect(ps.processes.map((p) => p.command)).toContain("sleep 600");
    await agent.call("signalProcess", { containerId: "persist", signal: 9 });
    expect(await agent.call("waitProcess", { containerId: "persist" })).toEqual({ exitCode: 137, signal: 9 });
    await agent.call("removeContainer", { containerId: "persist" });
  }, 90_000);

  test("shutdown powers the VM off", async () => {
    await agent.call("shutdown", {});
    const exit = await Promise.race([hv!.wait(), Bun.sleep(60_000).then(() => null)]);
    expect(exit).not.toBeNull();
  }, 70_000);
});
