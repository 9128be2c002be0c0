import { describe, expect, test } from "bun:test";
import { judgeConfinement } from "../../../src/cli/lib/check.ts";
import { type Confinement, QEMU_CAPABILITIES, QEMU_RLIMITS } from "../../../src/hypervisor/qemu/args.ts";
import type { ConfinementProbe } from "../../../src/hypervisor/qemu/process.ts";

/** husk check: the confinement a probe QEMU actually got, judged from its /proc status and limits. */

const want: Confinement = {
  unshare: "/usr/bin/unshare",
  prlimit: "/usr/bin/prlimit",
  setpriv: "/usr/bin/setpriv",
  capabilities: QEMU_CAPABILITIES,
  ...QEMU_RLIMITS,
  uid: 1_500_001_234,
};

const status = (over: Record<string, string> = {}) =>
  Object.entries({
    Uid: "1500001234\t1500001234\t1500001234\t1500001234",
    CapInh: "000000000000001b",
    CapPrm: "000000000000001b",
    CapEff: "000000000000001b",
    CapBnd: "000000000000001b",
    CapAmb: "000000000000001b",
    NoNewPrivs: "1",
    Seccomp: "2",
    ...over,
  })
    .map(([k, v]) => `${k}:\t${v}`)
    .join("\n");
const limits = (nofile = 4096, nproc = 512) =>
  `Limit  Soft Limit  Hard Limit  Units\nMax processes             ${nproc}                  ${nproc}                  processes\nMax open files            ${nofile}                 ${nofile}                 files\n`;
const probe = (over: Partial<ConfinementProbe> = {}): ConfinementProbe => ({
  pid: 42,
  status: status(),
  limits: limits(),
  ownNetns: true,
  ownMntns: true,
  exit: { code: 0, signal: null },
  stderr: "",
  ...over,
});

describe("husk check: qemu confinement", () => {
  test("everything in place: ok, required, names what is and is not applied", () => {
    const r = judgeConfinement(probe(), want);
    expect(r).toMatchObject({ name: "qemu confinement", ok: true, required: true });
    expect(r.detail).toContain("seccomp filter (-sandbox on,obsolete=deny");
    expect(r.detail).toContain("capabilities chown,dac_override,fowner,fsetid (CapEff 1b)");
    expect(r.detail).toContain("a uid of its own (1500000000 + its owner's pid)");
    expect(r.detail).toContain("no mount namespace of its own");
    const jailed = judgeConfinement(probe(), {
      ...want,
      root: { sh: "/bin/sh", jailDir: "/j", links: [], dirs: ["/usr"], files: [], devices: [] },
    });
    expect(jailed.ok).toBe(true);
    expect(jailed.detail).toContain("own mount namespace (a read-only tmpfs root");
  });
  test("each missing measure fails the check, named", () => {
    const cases: [Partial<ConfinementProbe>, string][] = [
      [{ status: status({ Seccomp: "0" }) }, "Seccomp 0"],
      [{ status: status({ NoNewPrivs: "0" }) }, "NoNewPrivs 0"],
      [{ status: status({ CapEff: "000001ffffffffff" }) }, "capabilities chown,dac_override,dac_read_search"],
      [{ status: status({ CapAmb: "0000000000000001" }) }, "want chown,dac_override,fowner,fsetid"],
      [{ status: status({ Uid: "0\t0\t0\t0" }) }, "uid 0, want 1500001234"],
      [{ limits: limits(1024) }, "open files limit 1024/1024, want 4096"],
      [{ limits: limits(4096, 100000) }, "processes limit 100000/100000"],
      [{ ownNetns: false }, "in the host's network namespace"],
      [{ exit: { code: null, signal: "SIGSYS" } }, "QMP quit did not end it cleanly (killed by SIGSYS)"],
    ];
    for (const [over, text] of cases) {
      const r = judgeConfinement(probe(over), want);
      expect(r.ok).toBe(false);
      expect(r.required).toBe(true);
      expect(r.detail).toContain(text);
    }
  });
  test("a caller that is not root: no capabilities, its own uid, its network namespace are what is expected", () => {
    const uid = process.geteuid?.() ?? 0;
    const mine = { ...want, capabilities: [], uid: undefined, unprivileged: true };
    const zero = "0000000000000000";
    const r = judgeConfinement(
      probe({
        ownNetns: false,
        status: status({
          Uid: `${uid}\t${uid}\t${uid}\t${uid}`,
          CapInh: zero,
          CapPrm: zero,
          CapEff: zero,
          CapBnd: "000001ffffffffff",
          CapAmb: zero,
        }),
      }),
      mine,
    );
    expect(r.ok).toBe(true);
    expect(r.detail).toContain("not root: seccomp filter");
  });
  test("a jail expected but QEMU in the host's mount namespace: fails", () => {
    const r = judgeConfinement(probe({ ownMntns: false }), {
      ...want,
      root: { sh: "/bin/sh", jailDir: "/j", links: [], dirs: [], files: [], devices: [] },
    });
    expect(r.ok).toBe(false);
    expect(r.detail).toContain("in the host's mount namespace");
  });
  test("a QEMU that did not come up: its stderr", () => {
    const r = judgeConfinement(
      probe({
        status: "",
        limits: "",
        exit: { code: 1, signal: null },
        stderr: "qemu-system-x86_64: -sandbox on: There is no option group 'sandbox'\n",
      }),
      want,
    );
    expect(r.ok).toBe(false);
    expect(r.detail).toContain("There is no option group 'sandbox'");
  });
});
