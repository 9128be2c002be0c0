/**
 * Fixtures for booting the guest image without the husk agent: a test
 * "agent" script placed where the init runs /husk/husk, a busybox OCI bundle
 * in the 9p share, and Bun next to the script (same runtime as dist/husk).
 */
import { existsSync } from "node:fs";
import { chmod, copyFile, link, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

export const BUN = join(import.meta.dir, "../../../node_modules/bun/bin/bun.exe");

/** What the test agent prints; the test checks the console for these. */
export const TEST_AGENT = `#!/bin/sh
echo "HUSK-TEST-AGENT args=$*"
echo "CGROUP-CONTROLLERS=$(cat /sys/fs/cgroup/cgroup.subtree_control)"
echo "JIT-ENV=dfg:\${BUN_JSC_useDFGJIT:-unset},ftl:\${BUN_JSC_useFTLJIT:-unset},jit:\${BUN_JSC_useJIT:-unset}"
echo "ROOTFS=$(awk '$2 == "/" {print $3}' /proc/mounts)"
crun run -b /run/husk/shared/bundle c1
echo "CRUN-EXIT=$?"
/husk/bun -e 'console.log("BUN-SAYS " + 6 * 7)'
echo "BUN-EXIT=$?"
`;

export async function makeTestAgentDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "husk"), TEST_AGENT);
  await chmod(join(dir, "husk"), 0o755);
  await link(BUN, join(dir, "bun")).catch(() => copyFile(BUN, join(dir, "bun")));
}

/** A busybox bundle whose process prints and exits 3. */
export async function makeBusyboxBundle(shared: string): Promise<void> {
  const bundle = join(shared, "bundle");
  await mkdir(join(bundle, "rootfs/bin"), { recursive: true });
  await copyFile("/bin/busybox", join(bundle, "rootfs/bin/busybox"));
  await chmod(join(bundle, "rootfs/bin/busybox"), 0o755);
  for (const a of ["sh", "echo", "cat"]) await symlink("busybox", join(bundle, "rootfs/bin", a));
  const spec = Bun.spawnSync(["crun", "spec"], { cwd: bundle });
  if (spec.exitCode !== 0) throw new Error(`crun spec failed: ${spec.stderr}`);
  const config = JSON.parse(await Bun.file(join(bundle, "config.json")).text());
  config.process.terminal = false;
  config.process.args = ["/bin/sh", "-c", "echo CONTAINER-SAYS hello; exit 3"];
  await writeFile(join(bundle, "config.json"), JSON.stringify(config, null, 1));
}

export function missingForBoot(): string | undefined {
  if (!Bun.which("qemu-system-x86_64")) return "qemu-system-x86_64 not installed (apt-get install -y qemu-system-x86)";
  if (!Bun.which("crun")) return "crun not installed (apt-get install -y crun)";
  if (!existsSync("/bin/busybox")) return "busybox-static not installed";
  if (!existsSync(BUN)) return `${BUN} missing (npm install)`;
  return undefined;
}
