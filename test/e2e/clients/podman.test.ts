import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, mkdtempSync, read, rmSync, writeSync } from "node:fs";
import { promisify } from "node:util";
import { openpty } from "../../../src/host/ffi/pty.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { canRun, ensureTemplate, makeEnv, type E2eEnv } from "../env.ts";
import { buildBusyboxImage } from "./oci-image.ts";

/**
 * podman 4 through conmon with `--runtime dist/husk`: private --root and
 * --runroot, a private containers.conf (small ulimits), an image imported
 * from a busybox-static rootfs tarball, all in a private mount namespace.
 */

const havePodman = Bun.which("podman") !== null && Bun.which("conmon") !== null && Bun.which("unshare") !== null;
if (!havePodman) console.warn("SKIP podman client test: podman/conmon/unshare not installed");

const readAsync = promisify(read);
let env: E2eEnv;
let dir: string;

describe.skipIf(!canRun || !havePodman)("podman with husk as its runtime", () => {
  beforeAll(() => {
    env = makeEnv("podman");
    ensureTemplate(env);
    dir = mkdtempSync(join(tmpdir(), "husk-podman-"));
  });
  afterAll(async () => {
    await env.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test("run --rm (output, exit code); run -d + exec + stop + rm; run on the bridge network", { timeout: 600_000 }, async () => {
    buildBusyboxImage(join(dir, "img"), "localhost/bb:husk");
    const rootfsTar = join(dir, "rootfs.tar");
    Bun.spawnSync(["tar", "--numeric-owner", "-C", join(dir, "img", "rootfs"), "-cf", rootfsTar, "."]);
    // Reached from the container over podman's bridge network (through its VM's NIC).
    const server = Bun.serve({ hostname: "0.0.0.0", port: 0, fetch: () => new Response("hello over the pod network\n") });
    const p = Bun.spawn(
      [
        "unshare",
        "-m",
        "--propagation",
        "private",
        join(import.meta.dir, "podman.sh"),
        dir,
        join(import.meta.dir, "../../../dist/husk"),
        rootfsTar,
        String(server.port),
      ],
      {
        env: { ...process.env, HUSK_CONFIG: env.config },
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    server.stop(true);
    if (code !== 0) console.error(out, err);
    expect(code).toBe(0);
    expect(out).toContain("hello from podman\nexit=4");
    expect(out).toContain("exec-ok");
    expect(out).toContain("boot=clone"); // the template made in beforeAll
    expect(out).toMatch(/w=(exited|stopped)/);
    expect(out).toContain("containers=0");
    expect(out).toContain("guest-has-address\nhello over the pod network");
  });

  test("run -it under a terminal (conmon's console socket)", { timeout: 600_000 }, async () => {
    const pty = openpty({ rows: 24, cols: 80 });
    const p = Bun.spawn(
      [
        "unshare",
        "-m",
        "--propagation",
        "private",
        join(import.meta.dir, "podman-tty.sh"),
        dir,
        join(import.meta.dir, "../../../dist/husk"),
      ],
      {
        env: { ...process.env, HUSK_CONFIG: env.config },
        stdio: [pty.slave, pty.slave, pty.slave],
      },
    );
    closeSync(pty.slave);
    writeSync(pty.master, "echo tty-$((40+2)); exit 6\n");
    let text = "";
    const buf = Buffer.alloc(4096);
    const timer = setTimeout(() => p.kill("SIGKILL"), 300_000);
    try {
      while (!text.includes("tty-42")) {
        const { bytesRead } = await readAsync(pty.master, buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        text += buf.subarray(0, bytesRead).toString();
      }
    } catch {
      // EIO once the last slave closes: everything was read
    }
    expect(text).toContain("tty-42");
    expect(await p.exited).toBe(6);
    clearTimeout(timer);
    closeSync(pty.master);
  });
});
