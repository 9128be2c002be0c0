import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostCgroupDirs, parseCgroupMounts } from "../../../src/host/cgroup.ts";
import { canRun, ensureTemplate, makeEnv, type E2eEnv } from "../env.ts";
import { buildBusyboxImage } from "./oci-image.ts";

/**
 * containerd's runc v2 shim driving husk (`ctr run --runc-binary`): a private
 * containerd (root, state, socket in a temp dir) in a private mount
 * namespace, an image imported from a busybox-static tarball.
 */

const haveCtr = Bun.which("containerd") !== null && Bun.which("ctr") !== null && Bun.which("unshare") !== null;
if (!haveCtr) console.warn("SKIP ctr client test: containerd/ctr/unshare not installed");

let env: E2eEnv;
let dir: string;

describe.skipIf(!canRun || !haveCtr)("ctr with husk as the runc binary", () => {
  beforeAll(() => {
    env = makeEnv("ctr");
    ensureTemplate(env);
    dir = mkdtempSync(join(tmpdir(), "husk-ctr-"));
  });
  afterAll(async () => {
    await env.cleanup();
    rmSync(dir, { recursive: true, force: true });
    // containerd's namespace parent cgroup (/husk-test): husk removes its leaves and, as runc, leaves the parent.
    for (const { dir: cg } of hostCgroupDirs("husk-test", parseCgroupMounts(readFileSync("/proc/self/mountinfo", "utf8")))) {
      try {
        rmdirSync(cg);
      } catch {
        // absent, or busy with something else
      }
    }
  });

  test("run (output, exit code), run -d + exec + kill + delete", { timeout: 600_000 }, async () => {
    const tar = buildBusyboxImage(join(dir, "img"), "docker.io/library/busybox:husk");
    const p = Bun.spawn(
      ["unshare", "-m", "--propagation", "private", join(import.meta.dir, "ctr.sh"), dir, join(import.meta.dir, "../../../dist/husk"), tar],
      {
        env: { ...process.env, HUSK_CONFIG: env.config },
        stdout: "pipe",
        stderr: "pipe",
      },
    );
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
    expect(out).toContain("hello from ctr\nexit=3");
    expect(out).toContain("exec-ok");
    expect(out).toContain("boot=clone"); // the template made in beforeAll
    expect(out).toMatch(/pids=[1-9]/);
    expect(out).toContain("t2=STOPPED");
    expect(out).toContain("left=0");
  });
});
