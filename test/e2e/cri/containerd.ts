import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { buildBusyboxImage } from "../clients/oci-image.ts";
import { CriClient } from "./client.ts";

/**
 * A private containerd with its CRI plugin (root, state, sockets in `dir`),
 * in its own mount namespace, with husk's runtime handlers:
 *   husk       io.containerd.husk.v2 (containerd-shim-husk-v2 → husk, on containerd's PATH)
 *   husk-runc  io.containerd.runc.v2 with BinaryName = husk
 *   runc       io.containerd.runc.v2 (the host's runc)
 * and two images imported from busybox-static: IMAGE (Cmd sh) and the pause image.
 * Used by the CRI tests and bench/cri.ts.
 */

export const IMAGE = "docker.io/library/busybox:husk";
export const PAUSE = "docker.io/library/busybox:husk-pause";
export const NS = "k8s.io";
/** The CNI network pods without hostNetwork join: a bridge of its own (removed by stopContainerd's caller with removeCniBridge). */
export const CNI_BRIDGE = "huskcri0";
export const CNI_SUBNET = "10.89.77.0/24";
const CNI_NAME = "husk-cri-test";
const CNI_BIN = "/usr/lib/cni";

export interface Containerd {
  dir: string;
  socket: string;
  cri: CriClient;
  /** `unshare … containerd` (unshare execs containerd: same pid). */
  proc: Subprocess;
  ctr(...args: string[]): string;
  stop(): Promise<void>;
}

async function waitFor(what: string, ok: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (ok()) return;
    await Bun.sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

export async function startContainerd(opts: { dir: string; husk: string; huskConfig: string; huskRoot: string }): Promise<Containerd> {
  const { dir } = opts;
  mkdirSync(join(dir, "bin"), { recursive: true });
  symlinkSync(opts.husk, join(dir, "bin", "containerd-shim-husk-v2"));
  for (const d of ["croot", "cstate", "logs", "cni-bin", "cni-conf"]) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(
    join(dir, "cni-conf", "10-husk.conflist"),
    JSON.stringify({
      cniVersion: "0.4.0",
      name: CNI_NAME,
      plugins: [
        {
          type: "bridge",
          bridge: CNI_BRIDGE,
          isGateway: true,
          ipMasq: false,
          ipam: { type: "host-local", ranges: [[{ subnet: CNI_SUBNET }]], routes: [{ dst: "0.0.0.0/0" }], dataDir: join(dir, "cni-ipam") },
        },
      ],
    }),
  );
  writeFileSync(
    join(dir, "containerd.toml"),
    [
      "version = 2",
      `root = "${dir}/croot"`,
      `state = "${dir}/cstate"`,
      "[grpc]",
      `  address = "${dir}/c.sock"`,
      "[ttrpc]",
      `  address = "${dir}/c.sock.ttrpc"`,
      `[plugins."io.containerd.grpc.v1.cri"]`,
      `  sandbox_image = "${PAUSE}"`,
      `  [plugins."io.containerd.grpc.v1.cri".cni]`,
      `    bin_dir = "${existsSync(CNI_BIN) ? CNI_BIN : `${dir}/cni-bin`}"`,
      `    conf_dir = "${dir}/cni-conf"`,
      `  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]`,
      `    runtime_type = "io.containerd.runc.v2"`,
      `  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.husk]`,
      `    runtime_type = "io.containerd.husk.v2"`,
      // The other way in: containerd's runc shim with husk as its runc binary.
      `  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.husk-runc]`,
      `    runtime_type = "io.containerd.runc.v2"`,
      `  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.husk-runc.options]`,
      `    BinaryName = "${opts.husk}"`,
      `    Root = "${opts.huskRoot}"`,
      "",
    ].join("\n"),
  );
  const log = Bun.file(join(dir, "containerd.log"));
  const proc = Bun.spawn(["unshare", "-m", "--propagation", "private", "containerd", "--config", join(dir, "containerd.toml")], {
    env: { ...process.env, PATH: `${join(dir, "bin")}:${process.env.PATH}`, HUSK_CONFIG: opts.huskConfig },
    stdout: log,
    stderr: log,
  });
  const socket = join(dir, "c.sock");
  const ctr = (...args: string[]): string => {
    const r = Bun.spawnSync(["ctr", "-a", socket, "-n", NS, ...args], { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`ctr ${args.join(" ")}: ${r.stderr.toString()}`);
    return r.stdout.toString();
  };
  const stop = async () => {
    proc.kill("SIGTERM");
    await proc.exited;
  };
  try {
    await waitFor("containerd's socket", () => existsSync(socket), 30_000);
    const clog = readFileSync(join(dir, "containerd.log"), "utf8");
    if (clog.includes("failed to load plugin io.containerd.grpc.v1.cri"))
      throw new Error(`containerd's CRI plugin did not load: ${clog.slice(-2000)}`);
    ctr("images", "import", buildBusyboxImage(join(dir, "img"), IMAGE));
    ctr("images", "import", buildBusyboxImage(join(dir, "pause"), PAUSE, ["sleep", "2147483647"]));
  } catch (e) {
    await stop();
    throw e;
  }
  return { dir, socket, cri: new CriClient(socket), proc, ctr, stop };
}

/** Command lines of the processes mentioning s (containerd itself and its unshare wrapper left out). */
export function processesMentioning(s: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmd.includes(s) && !cmd.startsWith("containerd --config") && !cmd.startsWith("unshare ")) out.push(`${pid} ${cmd}`);
    } catch {
      // gone
    }
  }
  return out;
}

/** Whether the host has the CNI plugins the bridge network needs. */
export const haveCni =
  existsSync(join(CNI_BIN, "bridge")) && existsSync(join(CNI_BIN, "host-local")) && existsSync(join(CNI_BIN, "loopback"));

/** The CNI bridge plugin leaves its bridge behind on DEL: remove it. */
export function removeCniBridge(): void {
  Bun.spawnSync(["ip", "link", "del", CNI_BRIDGE], { stdout: "ignore", stderr: "ignore" });
}
