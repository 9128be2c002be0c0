import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { HuskConfig } from "../../config/schema.ts";
import { buildLaunchCommand, type Confinement, QEMU_SANDBOX, QEMU_UID_BASE } from "../../hypervisor/qemu/args.ts";
import { capabilityMask, capabilityNames, parseProcLimit, parseProcStatus } from "../../hypervisor/qemu/confine.ts";
import { detectAccelerator } from "../../hypervisor/qemu/host.ts";
import { resolveConfinement } from "../../hypervisor/qemu/host-view.ts";
import { type ConfinementProbe, probeConfinedQemu } from "../../hypervisor/qemu/process.ts";
import { probeHost, resolveBinary } from "../../hypervisor/qemu/probe.ts";
import { type ImageOrigin, readImageManifest } from "../../image/manifest.ts";
import { COMMIT, VERSION } from "../../host/version.ts";

/**
 * `husk check`: can this host run husk as configured? Each check says what
 * it found; required ones decide the answer (and the exit status).
 */

export interface CheckResult {
  name: string;
  ok: boolean;
  required: boolean;
  detail: string;
}

function fileCheck(name: string, path: string, required: boolean): CheckResult {
  try {
    const st = statSync(path);
    return { name, ok: st.isFile(), required, detail: st.isFile() ? `${path} (${st.size} bytes)` : `${path} is not a file` };
  } catch {
    return { name, ok: false, required, detail: `${path} missing (run \`husk image build\`)` };
  }
}

function writableRoot(root: string): CheckResult {
  let dir = root;
  while (!existsSync(dir) && dir !== "/") dir = dirname(dir);
  try {
    accessSync(dir, constants.W_OK);
    return { name: "state root", ok: true, required: true, detail: `${root} (writable via ${dir})` };
  } catch {
    return { name: "state root", ok: false, required: true, detail: `${root}: ${dir} is not writable` };
  }
}

function cgroupLayout(): string {
  try {
    const mounts = readFileSync("/proc/self/mounts", "utf8").split("\n");
    const v2 = mounts.some((l) => l.split(" ")[2] === "cgroup2");
    const v1 = mounts.some((l) => l.split(" ")[2] === "cgroup");
    return v1 && v2 ? "hybrid v1+v2" : v2 ? "v2" : v1 ? "v1" : "none";
  } catch {
    return "unknown";
  }
}

/** Where the image came from, for people: built here or elsewhere, or imported from which archive, when. */
export function describeOrigin(origin: ImageOrigin | undefined, here: string = hostname()): string {
  if (!origin) return "unknown (the manifest predates origin records)";
  const built = (b: { host: string; at: string }) => `built ${b.host === here ? "here" : `on ${b.host}`} on ${b.at}`;
  if (origin.kind === "built") return built(origin);
  return `imported from ${origin.file} on ${origin.at} (archive sha256 ${origin.archiveSha256.slice(0, 12)}…${origin.built ? `; ${built(origin.built)}` : ""})`;
}

/**
 * The confinement a QEMU started the way husk starts it actually got, read
 * from its /proc status and limits (docs/security.md). Every measure must
 * hold: husk starts no QEMU without them.
 */
export function judgeConfinement(probe: ConfinementProbe, want: Confinement): CheckResult {
  const name = "qemu confinement";
  if (!probe.status) {
    const why =
      probe.stderr.trim().split("\n").slice(-3).join("; ") ||
      (probe.exit.signal ? `killed by ${probe.exit.signal}` : `exit code ${probe.exit.code}`);
    return { name, ok: false, required: true, detail: `a QEMU confined as husk starts it did not come up: ${why}` };
  }
  const s = parseProcStatus(probe.status);
  const wantCaps = capabilityMask(want.capabilities);
  const nofile = parseProcLimit(probe.limits, "Max open files");
  const nproc = parseProcLimit(probe.limits, "Max processes");
  const problems: string[] = [];
  if (s.seccomp !== 2) problems.push(`Seccomp ${s.seccomp ?? "not reported"} (want 2: QEMU's -sandbox filter)`);
  if (!s.noNewPrivs) problems.push("NoNewPrivs 0");
  // A non-root QEMU keeps its capabilities as ambient (and so inheritable) ones; root's come from the bounding set alone.
  const wantAmbient = want.uid === undefined ? 0n : wantCaps;
  // A caller that is not root cannot cut the bounding set; with no_new_privs and no capabilities it grants nothing.
  const bndOk = want.unprivileged || s.capBnd === wantCaps;
  if (s.capEff !== wantCaps || s.capPrm !== wantCaps || !bndOk || s.capInh !== wantAmbient || s.capAmb !== wantAmbient) {
    problems.push(
      `capabilities ${capabilityNames(s.capEff).join(",") || "none"} (bounding ${capabilityNames(s.capBnd).join(",") || "none"}), want ${want.capabilities.join(",")}`,
    );
  }
  if (nofile?.soft !== want.nofile || nofile?.hard !== want.nofile)
    problems.push(`open files limit ${nofile?.soft}/${nofile?.hard}, want ${want.nofile}`);
  if (nproc?.soft !== want.nproc || nproc?.hard !== want.nproc)
    problems.push(`processes limit ${nproc?.soft}/${nproc?.hard}, want ${want.nproc}`);
  const wantUid = want.uid ?? (want.unprivileged ? process.geteuid?.() : 0);
  if (s.uid !== wantUid) problems.push(`uid ${s.uid}, want ${wantUid}`);
  if (!probe.ownNetns && !want.unprivileged) problems.push("in the host's network namespace (want its own: unshare --net)");
  if (!probe.ownMntns && want.root) problems.push("in the host's mount namespace (want its own: the jail)");
  if (probe.exit.code !== 0)
    problems.push(
      `QMP quit did not end it cleanly (${probe.exit.signal ? `killed by ${probe.exit.signal}` : `exit code ${probe.exit.code}`})`,
    );
  if (problems.length) return { name, ok: false, required: true, detail: problems.join("; ") };
  if (want.unprivileged) {
    return {
      name,
      ok: true,
      required: true,
      detail: `not root: seccomp filter (-sandbox ${QEMU_SANDBOX}), no_new_privs, no capabilities, nofile ${want.nofile}, nproc ${want.nproc}; QEMU runs as this user, in this network namespace (docs/security.md)`,
    };
  }
  return {
    name,
    ok: true,
    required: true,
    detail:
      `seccomp filter (-sandbox ${QEMU_SANDBOX}), no_new_privs, capabilities ${want.capabilities.join(",")} (CapEff ${s.capEff.toString(16)}), ` +
      `nofile ${want.nofile}, nproc ${want.nproc}${s.uid === 0 ? " (not enforced for uid 0)" : ""}, ` +
      `${s.uid === 0 ? "uid 0" : `a uid of its own (${QEMU_UID_BASE} + its owner's pid)`}, ` +
      "own network namespace (without NICs; the container's with them); " +
      (want.root
        ? "own mount namespace (a read-only tmpfs root: /usr, the image, its sandbox directory)"
        : "no mount namespace of its own") +
      " (docs/security.md)",
  };
}

async function confinementCheck(qemu: string, kernel: string): Promise<CheckResult> {
  let want: Confinement;
  try {
    want = resolveConfinement();
  } catch (e) {
    return { name: "qemu confinement", ok: false, required: true, detail: (e as Error).message };
  }
  const args = ["-machine", "none", "-nodefaults", "-no-user-config", "-display", "none", "-sandbox", QEMU_SANDBOX, "-qmp", "stdio"];
  // The jail as a sandbox's QEMU gets it: a scratch sandbox directory with a share, and the configured kernel.
  const dir = mkdtempSync(join(tmpdir(), "husk-check-"));
  try {
    mkdirSync(join(dir, "shared"));
    const spec = want.root && existsSync(kernel) ? { dir, sharedDir: join(dir, "shared"), kernel } : {};
    const probe = await probeConfinedQemu(buildLaunchCommand(qemu, args, spec, "nsenter", want));
    return judgeConfinement(probe, spec.kernel ? want : { ...want, root: undefined });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runChecks(config: HuskConfig): Promise<{ ok: boolean; checks: CheckResult[] }> {
  const hv = config.hypervisor;
  const checks: CheckResult[] = [];
  const qemu = resolveBinary(hv.path);
  let qemuVersion = "";
  if (qemu) {
    const out = Bun.spawnSync({ cmd: [qemu, "--version"], stdout: "pipe", stderr: "ignore" });
    qemuVersion = out.stdout.toString().split("\n")[0] ?? "";
  }
  checks.push({
    name: "qemu",
    ok: qemu !== undefined,
    required: true,
    detail: qemu ? `${qemu}: ${qemuVersion}` : `${hv.path} not found on PATH`,
  });
  if (qemu) checks.push(await confinementCheck(qemu, hv.kernel));
  checks.push(fileCheck("kernel", hv.kernel, true));
  if (hv.initrd) checks.push(fileCheck("initrd", hv.initrd, true));
  if (hv.image) checks.push(fileCheck("disk image", hv.image, true));
  try {
    const m = await readImageManifest(dirname(hv.kernel));
    checks.push({
      name: "image manifest",
      ok: true,
      required: false,
      detail: `${dirname(hv.kernel)}: kernel ${m.kernel.kind} ${m.kernel.version}, ${m.files.length} files`,
    });
    checks.push({ name: "image origin", ok: true, required: false, detail: describeOrigin(m.origin) });
    const same = m.husk.version === VERSION && m.husk.commit === COMMIT;
    checks.push({
      name: "image agent",
      ok: same,
      required: false,
      detail: same
        ? `husk ${VERSION} (${COMMIT}), this husk`
        : `husk ${m.husk.version} (${m.husk.commit}) in the image, this is husk ${VERSION} (${COMMIT}): rebuild or import an image made by this husk`,
    });
  } catch (e) {
    checks.push({ name: "image manifest", ok: false, required: false, detail: (e as Error).message });
  }
  const host = probeHost();
  const accel = detectAccelerator(hv.accelerator, host.cpuFlags, host.kvmOpens);
  checks.push({
    name: "accelerator",
    ok: !(hv.accelerator === "kvm" && accel.warning),
    required: true,
    detail: `${accel.accelerator}${accel.warning ? ` (${accel.warning})` : ""}`,
  });
  checks.push({
    name: "vsock",
    ok: host.vhostVsock,
    required: false,
    detail: host.vhostVsock ? "/dev/vhost-vsock present" : "no /dev/vhost-vsock: virtio-serial agent channel",
  });
  checks.push({ name: "cgroups", ok: true, required: false, detail: `host ${cgroupLayout()}; containers use the guest's cgroup v2` });
  checks.push(writableRoot(config.runtime.root));
  return { ok: checks.every((c) => c.ok || !c.required), checks };
}
