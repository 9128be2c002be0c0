/**
 * Boots the guest image under QEMU/TCG with a test agent (not husk agent):
 * the real /init must switch the root to a tmpfs, mount cgroup2 and both 9p
 * shares, run /husk/husk, and take the VM down when it exits; crun must run
 * a busybox bundle from the 9p share and Bun must run in the guest.
 * One VM per kernel (minimal, Debian fallback): each boot is seconds.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bootOnce, type BootResult } from "../../../bench/lib/boot-vm.ts";
import { buildImage } from "../../../src/image/build.ts";
import { findCachedKernel } from "../../../src/image/kernel.ts";
import { findDebianKernel } from "../../../src/image/kernel-debian.ts";
import { BUN, makeBusyboxBundle, makeTestAgentDir, missingForBoot } from "./fixture.ts";

const missing = missingForBoot();
const minimal = missing ? undefined : await findCachedKernel();
const debian = missing ? undefined : await findDebianKernel().catch(() => undefined);

const kinds: Array<{ kind: "minimal" | "debian"; skip: string | undefined }> = [
  {
    kind: "minimal",
    skip: missing ?? (minimal ? undefined : "the minimal kernel is not built yet: run `husk image build` (≈10 min once)"),
  },
  { kind: "debian", skip: missing ?? (debian ? undefined : "no /boot/vmlinuz-* (apt-get install -y linux-image-amd64)") },
];

for (const { kind, skip } of kinds) {
  const name = `guest image boots (${kind} kernel)${skip ? ` — SKIPPED: ${skip}` : ""}`;
  describe.skipIf(skip !== undefined)(name, () => {
    let work: string;
    let boot: BootResult;

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), `husk-image-it-${kind}-`));
      const image = join(work, "image");
      const m = await buildImage({ output: image, kernel: kind, agentPath: BUN, onProgress: () => {} });
      await makeTestAgentDir(join(work, "agent"));
      await makeBusyboxBundle(join(work, "shared"));
      boot = await bootOnce({
        kernel: join(image, m.kernel.path),
        initrd: join(image, m.initrd!.path),
        machine: "microvm",
        // as the QEMU driver does under TCG
        params: [...m.kernelParams, "husk.jit=off"],
        agentDir: join(work, "agent"),
        sharedDir: join(work, "shared"),
        timeoutMs: 120_000,
      });
      if (!boot.console.includes("BUN-EXIT")) console.error(boot.console);
    }, 300_000);

    afterAll(async () => {
      if (work) await rm(work, { recursive: true, force: true });
    });

    test("the VM takes itself down when the agent exits (no hang)", () => {
      expect(boot.timedOut).toBe(false);
      expect(boot.exitCode).toBe(0);
      expect(boot.console).toContain("husk-init: agent exited with status 0");
    });

    test("init ran /husk/husk agent from the husk-agent share, on a tmpfs root", () => {
      expect(boot.console).toContain("husk-init: starting agent");
      expect(boot.console).toContain("HUSK-TEST-AGENT args=agent");
      expect(boot.console).toContain("ROOTFS=tmpfs");
      expect(boot.console).not.toContain("husk-init: error");
    });

    test("cgroup v2 controllers are enabled for containers", () => {
      const line = /CGROUP-CONTROLLERS=(.*)/.exec(boot.console)?.[1] ?? "";
      for (const c of ["cpu", "memory", "pids", "cpuset"]) expect(line.split(" ")).toContain(c);
    });

    test("crun runs a busybox bundle from the 9p share (pivot_root works) and returns its exit code", () => {
      expect(boot.console).toContain("CONTAINER-SAYS hello");
      expect(boot.console).toContain("CRUN-EXIT=3");
    });

    test("husk.jit=off turns Bun's optimising JIT tiers off for the agent (the baseline JIT stays: bun:ffi needs it)", () => {
      expect(boot.console).toContain("JIT-ENV=dfg:0,ftl:0,jit:unset");
    });

    test("Bun (the agent's runtime) runs in the guest", () => {
      expect(boot.console).toContain("BUN-SAYS 42");
      expect(boot.console).toContain("BUN-EXIT=0");
    });
  });
}
