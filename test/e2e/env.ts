import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Shared set-up for the VM-backed end-to-end tests: the compiled binary,
 * the guest image (HUSK_IMAGE_DIR or /var/lib/husk/image), a private root
 * and a config pointing at the image. Missing pieces skip the tests with the
 * reason printed, never a silent pass.
 */

export const HUSK = join(import.meta.dir, "../../dist/husk");
export const IMAGE_DIR = process.env.HUSK_IMAGE_DIR ?? "/var/lib/husk/image";

interface Manifest {
  kernel: { path: string };
  initrd?: { path: string };
  machine: string;
  kernelParams: string[];
}

function missing(): string | undefined {
  if (!existsSync(HUSK)) return `${HUSK} missing (bun run build.ts)`;
  if (!existsSync(join(IMAGE_DIR, "manifest.json"))) return `no guest image in ${IMAGE_DIR} (husk image build, or set HUSK_IMAGE_DIR)`;
  if (!existsSync("/bin/busybox")) return "busybox-static not installed";
  if (!Bun.which("qemu-system-x86_64")) return "qemu-system-x86_64 not installed";
  return undefined;
}

export const skipReason = missing();
export const canRun = skipReason === undefined;
if (!canRun) console.warn(`SKIP e2e: ${skipReason}`);

export interface E2eEnv {
  dir: string;
  root: string;
  config: string;
  /** Global flags for every husk call. */
  globals: string[];
  cleanup(): Promise<void>;
}

export function makeEnv(name: string): E2eEnv {
  const dir = mkdtempSync(join(tmpdir(), `husk-e2e-${name}-`));
  // Short: sockets live under <root>/sandboxes/<id>/ and podman's ids are 64 characters (sun_path is 108 bytes).
  const root = mkdtempSync("/tmp/hk-");
  const m = JSON.parse(readFileSync(join(IMAGE_DIR, "manifest.json"), "utf8")) as Manifest;
  const config = join(dir, "config.toml");
  const q = (s: string) => JSON.stringify(s);
  writeFileSync(
    config,
    [
      "[hypervisor]",
      `kernel = ${q(join(IMAGE_DIR, m.kernel.path))}`,
      `initrd = ${q(m.initrd ? join(IMAGE_DIR, m.initrd.path) : "")}`,
      `machine = ${q(m.machine)}`,
      `kernel_params = [${m.kernelParams.map(q).join(", ")}]`,
      "boot_timeout_ms = 180000",
      "[runtime]",
      `root = ${q(root)}`,
      "",
    ].join("\n"),
  );
  const globals = ["--root", root, "--config", config];
  return {
    dir,
    root,
    config,
    globals,
    async cleanup() {
      // Whatever a failed test left: delete every container (stops the VMs), then the files.
      const list = Bun.spawnSync([HUSK, ...globals, "list", "--quiet"], { stdout: "pipe", stderr: "ignore" });
      for (const id of list.stdout.toString().split("\n").filter(Boolean)) {
        Bun.spawnSync([HUSK, ...globals, "delete", "--force", id], { stdout: "ignore", stderr: "ignore" });
      }
      rmSync(dir, { recursive: true, force: true });
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** A busybox bundle whose process runs `args`. */
export function makeBundle(
  env: E2eEnv,
  name: string,
  args: string[],
  options: { terminal?: boolean; annotations?: Record<string, string> } = {},
): string {
  const bundle = join(env.dir, name);
  const bin = join(bundle, "rootfs", "bin");
  mkdirSync(bin, { recursive: true });
  for (const d of ["proc", "sys", "dev", "tmp", "etc", "root"]) mkdirSync(join(bundle, "rootfs", d), { recursive: true });
  cpSync("/bin/busybox", join(bin, "busybox"));
  const applets = Bun.spawnSync(["/bin/busybox", "--list"]).stdout.toString().split("\n").filter(Boolean);
  for (const a of applets) if (a !== "busybox" && !existsSync(join(bin, a))) symlinkSync("busybox", join(bin, a));
  writeFileSync(join(bundle, "rootfs", "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  Bun.spawnSync([HUSK, "spec", "--bundle", bundle]);
  const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
  spec.process.args = args;
  spec.process.terminal = options.terminal === true;
  if (options.annotations) spec.annotations = options.annotations;
  writeFileSync(join(bundle, "config.json"), JSON.stringify(spec, null, 2));
  return bundle;
}

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run husk with stdout/stderr in files (a detached shim inherits them, so a
 * pipe would not reach EOF until the container exits).
 */
export async function husk(env: E2eEnv, args: string[], options: { stdin?: string | Uint8Array; timeoutMs?: number } = {}): Promise<Ran> {
  const tag = Math.random().toString(36).slice(2);
  const out = join(env.dir, `out-${tag}`);
  const err = join(env.dir, `err-${tag}`);
  const p = Bun.spawn([HUSK, ...env.globals, ...args], {
    stdin:
      options.stdin === undefined ? "ignore" : typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin,
    stdout: Bun.file(out),
    stderr: Bun.file(err),
  });
  const timer = setTimeout(() => p.kill("SIGKILL"), options.timeoutMs ?? 240_000);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, stdout: readFileSync(out, "utf8"), stderr: readFileSync(err, "utf8") };
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitFor<T>(fn: () => Promise<T | undefined> | T | undefined, ms = 60_000, what = "condition"): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

export function leftovers(env: E2eEnv): string[] {
  try {
    return (readdirSync(join(env.root, "sandboxes")) as string[]).concat(readdirSync(join(env.root, "containers")));
  } catch {
    return [];
  }
}

/** Make sure the VM template for this env's sandbox shape exists (`husk factory init`: at once when it does). */
export function ensureTemplate(env: E2eEnv, nics = 0): void {
  const r = Bun.spawnSync([HUSK, "--config", env.config, "factory", "init", "--nics", String(nics)], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`husk factory init failed: ${r.stderr.toString()}`);
}

/** Processes whose command line mentions this test's root (monitor, qemu, shim). */
export function processesOf(root: string): string[] {
  const out: string[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0").join(" ");
      if (cmd.includes(root)) out.push(`${d} ${cmd.slice(0, 120)}`);
    } catch {}
  }
  return out;
}
