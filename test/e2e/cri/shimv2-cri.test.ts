import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostCgroupDirs, parseCgroupMounts } from "../../../src/host/cgroup.ts";
import { canRun, ensureTemplate, HUSK, makeEnv, processesOf, type E2eEnv } from "../env.ts";
import { C } from "./client.ts";
import { CNI_BRIDGE, haveCni, IMAGE, processesMentioning, removeCniBridge, startContainerd, type Containerd } from "./containerd.ts";

/**
 * Kubernetes' ways in: containerd's CRI plugin with a runtime handler `husk`
 * whose runtime_type is io.containerd.husk.v2, driven by a CRI client as the
 * kubelet would (a private containerd: root, state, socket in a temp dir, in
 * its own mount namespace; images imported from busybox-static). One shim
 * and one VM per pod. The same scenario through `husk-runc`: containerd's
 * runc shim with BinaryName = husk (one runc shim per container, one VM).
 */

const haveContainerd = Bun.which("containerd") !== null && Bun.which("ctr") !== null && Bun.which("unshare") !== null;
if (!haveContainerd) console.warn("SKIP CRI shim v2 test: containerd/ctr/unshare not installed");

let env: E2eEnv;
let dir: string;
let cd: Containerd | undefined;

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await ok()) return;
    await Bun.sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe.skipIf(!canRun || !haveContainerd)("CRI through containerd: husk as shim v2, and as the runc shim's binary", () => {
  beforeAll(async () => {
    env = makeEnv("cri");
    ensureTemplate(env);
    dir = mkdtempSync(join(tmpdir(), "husk-cri-"));
    cd = await startContainerd({ dir, husk: HUSK, huskConfig: env.config, huskRoot: env.root });
  });

  afterAll(async () => {
    cd?.cri.close();
    await cd?.stop();
    removeCniBridge();
    // Shims left by a failed test: their servers stop with SIGTERM, the VMs with env.cleanup.
    for (const line of processesMentioning(dir)) process.kill(Number(line.split(" ")[0]), "SIGTERM");
    await env.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
    for (const { dir: cg } of hostCgroupDirs("k8s.io", parseCgroupMounts(readFileSync("/proc/self/mountinfo", "utf8")))) {
      try {
        rmdirSync(cg);
      } catch {
        // absent, or busy with something else
      }
    }
  });

  test.each([
    ["husk", 1],
    ["husk-runc", 0],
  ] as const)(
    "%s: pod lifecycle: two containers in one VM, ExecSync, localhost, logs, stats, stop with the grace period, nothing left",
    { timeout: 900_000 },
    async (handler, shimServers) => {
      const cri = cd!.cri;
      const v = await cri.version();
      expect(v.runtimeApiVersion).toBe("v1");

      const sandboxConfig = {
        metadata: { name: "pod1", uid: "uid-pod1", namespace: "default", attempt: 0 },
        logDirectory: join(dir, "logs"),
        // The node's network: no CNI here (inside the VM the pod's containers share the guest's network).
        linux: { securityContext: { namespaceOptions: { network: C.NamespaceMode.NODE, pid: C.NamespaceMode.CONTAINER } } },
      };
      // As the kubelet asks for a v1 pod: a PID namespace per container.
      const linux = { securityContext: { namespaceOptions: { network: C.NamespaceMode.NODE, pid: C.NamespaceMode.CONTAINER } } };
      const t0 = Date.now();
      const { podSandboxId: pod } = await cri.runPodSandbox(sandboxConfig, handler);
      const podUp = Date.now() - t0;

      const c1 = (
        await cri.createContainer(
          pod,
          {
            metadata: { name: "web" },
            image: { image: IMAGE },
            command: ["sh", "-c", "mkdir -p /www && echo pong-from-web > /www/index.html && echo web-up && exec httpd -f -p 8080 -h /www"],
            logPath: "web.log",
            linux,
          },
          sandboxConfig,
        )
      ).containerId;
      const c2 = (
        await cri.createContainer(
          pod,
          {
            metadata: { name: "idle" },
            image: { image: IMAGE },
            command: ["sh", "-c", "echo idle-up; echo idle-err >&2; exec sleep 2147483647"],
            logPath: "idle.log",
            linux,
          },
          sandboxConfig,
        )
      ).containerId;
      await cri.startContainer(c1);
      await cri.startContainer(c2);
      const started = Date.now() - t0;
      console.log(`${handler}: RunPodSandbox ${podUp} ms; both containers started at ${started} ms`);

      // One VM for the pod, one shim server for the pod.
      const qemus = processesOf(env.root).filter((p) => p.includes("qemu-system"));
      expect(qemus).toHaveLength(1);
      const shims = processesMentioning(dir).filter((p) => p.includes("shim-v2") && p.includes(" serve"));
      expect(shims).toHaveLength(shimServers);

      // ExecSync: output and exit code.
      const ex = await cri.execSync(c2, ["sh", "-c", "echo out; echo err >&2; exit 7"]);
      expect(Buffer.from(ex.stdout).toString()).toBe("out\n");
      expect(Buffer.from(ex.stderr).toString()).toBe("err\n");
      expect(ex.exitCode).toBe(7);

      // The pod's containers reach each other on localhost.
      let body = "";
      await waitFor("web on localhost:8080", async () => {
        const r = await cri.execSync(c2, ["wget", "-q", "-O-", "http://127.0.0.1:8080/"]);
        body = Buffer.from(r.stdout).toString();
        return r.exitCode === 0;
      });
      expect(body).toBe("pong-from-web\n");

      // The pod's containers share the sandbox's UTS and IPC namespaces; each has its own PID namespace (as the kubelet asked).
      const ns = async (id: string) =>
        Buffer.from((await cri.execSync(id, ["sh", "-c", "for n in uts ipc pid; do readlink /proc/self/ns/$n; done"])).stdout)
          .toString()
          .split("\n");
      const [n1, n2] = [await ns(c1), await ns(c2)];
      expect(n1[0]).toMatch(/^uts:/);
      expect(n1[0]).toBe(n2[0]!);
      expect(n1[1]).toBe(n2[1]!);
      expect(n1[2]).not.toBe(n2[2]!);

      // ContainerStats from the guest's cgroup.
      const st = await cri.containerStats(c2);
      expect(st.stats?.attributes?.id).toBe(c2);
      expect(st.stats?.memory?.workingSetBytes?.value ?? 0n).toBeGreaterThan(0n);

      // CRI log files, in the CRI format.
      await waitFor(
        "the logs",
        () => existsSync(join(dir, "logs", "idle.log")) && readFileSync(join(dir, "logs", "idle.log"), "utf8").includes("idle-err"),
      );
      const idleLog = readFileSync(join(dir, "logs", "idle.log"), "utf8");
      expect(idleLog).toMatch(/^\S+ stdout F idle-up$/m);
      expect(idleLog).toMatch(/^\S+ stderr F idle-err$/m);
      expect(readFileSync(join(dir, "logs", "web.log"), "utf8")).toMatch(/stdout F web-up/);

      // StopContainer: SIGTERM, ignored by the sleeping pid 1, then SIGKILL after the 2 s grace period.
      const s0 = Date.now();
      await cri.stopContainer(c2, 2);
      expect(Date.now() - s0).toBeGreaterThanOrEqual(1900);
      const s2 = (await cri.containerStatus(c2)).status!;
      expect(s2.state).toBe(C.ContainerState.CONTAINER_EXITED);
      expect(s2.exitCode).toBe(137);
      await cri.stopContainer(c1, 2);
      expect((await cri.containerStatus(c1)).status!.state).toBe(C.ContainerState.CONTAINER_EXITED);

      await cri.removeContainer(c1);
      await cri.removeContainer(c2);
      await cri.stopPodSandbox(pod);
      await cri.removePodSandbox(pod);

      // Nothing left: no shim, no VM, no sandbox, no socket.
      await waitFor(
        "the shims and the VM to go",
        // processesMentioning(dir) also finds containerd's runc shims (-address <dir>/c.sock).
        () => processesMentioning(dir).length === 0 && processesOf(env.root).length === 0,
        30_000,
      );
      expect(readdirSync(join(env.root, "sandboxes"))).toEqual([]);
      expect(existsSync(join(env.root, "s")) ? readdirSync(join(env.root, "s")) : []).toEqual([]);
      const mounts = readFileSync(`/proc/${cd!.proc.pid}/mountinfo`, "utf8");
      expect(mounts.split("\n").filter((l) => l.includes(env.root) || l.includes(`${dir}/cstate`))).toEqual([]);
    },
  );
  test("husk: the pod's shim server SIGKILLed: containerd sees the containers exit, the pod is removed, nothing left", {
    timeout: 600_000,
  }, async () => {
    const cri = cd!.cri;
    const linux = { securityContext: { namespaceOptions: { network: C.NamespaceMode.NODE, pid: C.NamespaceMode.CONTAINER } } };
    const sandboxConfig = { metadata: { name: "pod2", uid: "uid-pod2", namespace: "default" }, logDirectory: join(dir, "logs"), linux };
    const { podSandboxId: pod } = await cri.runPodSandbox(sandboxConfig, "husk");
    const c = (
      await cri.createContainer(
        pod,
        { metadata: { name: "idle2" }, image: { image: IMAGE }, command: ["sleep", "2147483647"], logPath: "idle2.log", linux },
        sandboxConfig,
      )
    ).containerId;
    await cri.startContainer(c);
    const servers = processesMentioning(dir).filter((p) => p.includes("shim-v2") && p.includes(" serve"));
    expect(servers).toHaveLength(1);
    process.kill(Number(servers[0]!.split(" ")[0]), "SIGKILL");

    await waitFor(
      "the container to be seen exited",
      async () => (await cri.containerStatus(c)).status!.state === C.ContainerState.CONTAINER_EXITED,
    );
    await cri.removeContainer(c);
    await cri.stopPodSandbox(pod);
    await cri.removePodSandbox(pod);
    await waitFor("the VM to go", () => processesMentioning(dir).length === 0 && processesOf(env.root).length === 0, 60_000);
    expect(readdirSync(join(env.root, "sandboxes"))).toEqual([]);
    expect(
      readFileSync(`/proc/${cd!.proc.pid}/mountinfo`, "utf8")
        .split("\n")
        .filter((l) => l.includes(env.root)),
    ).toEqual([]);
  });
  test.skipIf(!haveCni)(
    "husk: a pod on a CNI bridge network: its IP reaches the container in the VM, nothing left",
    { timeout: 600_000 },
    async () => {
      const cri = cd!.cri;
      const linux = { securityContext: { namespaceOptions: { pid: C.NamespaceMode.CONTAINER } } }; // network: POD (CNI)
      const sandboxConfig = {
        metadata: { name: "pod3", uid: "uid-pod3", namespace: "default" },
        hostname: "pod3",
        logDirectory: join(dir, "logs"),
        linux,
      };
      const { podSandboxId: pod } = await cri.runPodSandbox(sandboxConfig, "husk");
      try {
        const ip = (await cri.podSandboxStatus(pod)).status?.network?.ip ?? "";
        expect(ip).toMatch(/^10\.89\.77\.\d+$/);
        const c = (
          await cri.createContainer(
            pod,
            {
              metadata: { name: "web3" },
              image: { image: IMAGE },
              command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"],
              logPath: "web3.log",
              linux,
            },
            sandboxConfig,
          )
        ).containerId;
        await cri.startContainer(c);
        // From the host, through the CNI bridge and the pod's netns into the VM.
        let body = "";
        await waitFor(`http://${ip}:8080/`, async () => {
          try {
            body = await (await fetch(`http://${ip}:8080/`, { signal: AbortSignal.timeout(2000) })).text();
            return true;
          } catch {
            return false;
          }
        });
        expect(body).toBe("pod3\n");
        // And out: the container reaches the bridge's gateway (the host).
        const out = await cri.execSync(c, ["sh", "-c", "ip route | grep default"]);
        expect(Buffer.from(out.stdout).toString()).toContain("10.89.77.1");
        await cri.stopContainer(c, 0);
        await cri.removeContainer(c);
      } finally {
        await cri.stopPodSandbox(pod);
        await cri.removePodSandbox(pod);
      }
      await waitFor("the VM to go", () => processesMentioning(dir).length === 0 && processesOf(env.root).length === 0, 60_000);
      expect(readdirSync(join(env.root, "sandboxes"))).toEqual([]);
      // The pod's veth is gone from the bridge (its netns, with the VM's tap, went with the pod).
      expect(Bun.spawnSync(["ip", "-o", "link", "show", "master", CNI_BRIDGE]).stdout.toString()).toBe("");
    },
  );
});
