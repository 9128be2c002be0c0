/**
 * Reading back the confinement of a running QEMU (docs/security.md): the
 * lines of /proc/<pid>/status and /proc/<pid>/limits that show it. Pure
 * parsers; `husk check` and the tests do the reads.
 */

/** Linux capability numbers (include/uapi/linux/capability.h), by setpriv's lower-case names. */
export const CAPABILITY_NUMBERS: Readonly<Record<string, number>> = {
  chown: 0,
  dac_override: 1,
  dac_read_search: 2,
  fowner: 3,
  fsetid: 4,
  kill: 5,
  setgid: 6,
  setuid: 7,
  setpcap: 8,
  linux_immutable: 9,
  net_bind_service: 10,
  net_broadcast: 11,
  net_admin: 12,
  net_raw: 13,
  ipc_lock: 14,
  ipc_owner: 15,
  sys_module: 16,
  sys_rawio: 17,
  sys_chroot: 18,
  sys_ptrace: 19,
  sys_pacct: 20,
  sys_admin: 21,
  sys_boot: 22,
  sys_nice: 23,
  sys_resource: 24,
  sys_time: 25,
  sys_tty_config: 26,
  mknod: 27,
  lease: 28,
  audit_write: 29,
  audit_control: 30,
  setfcap: 31,
  mac_override: 32,
  mac_admin: 33,
  syslog: 34,
  wake_alarm: 35,
  block_suspend: 36,
  audit_read: 37,
  perfmon: 38,
  bpf: 39,
  checkpoint_restore: 40,
};

/** The capability mask (as in CapEff) of these names; an unknown name is an error. */
export function capabilityMask(names: readonly string[]): bigint {
  let mask = 0n;
  for (const name of names) {
    const bit = CAPABILITY_NUMBERS[name];
    if (bit === undefined) throw new Error(`unknown capability ${JSON.stringify(name)}`);
    mask |= 1n << BigInt(bit);
  }
  return mask;
}

/** Names of the capabilities in a mask, in number order; unnamed bits as cap_N. */
export function capabilityNames(mask: bigint): string[] {
  const byBit = new Map(Object.entries(CAPABILITY_NUMBERS).map(([n, b]) => [b, n]));
  const names: string[] = [];
  for (let bit = 0; bit < 64; bit++) if (mask & (1n << BigInt(bit))) names.push(byBit.get(bit) ?? `cap_${bit}`);
  return names;
}

export interface ProcConfinement {
  /** 0 none, 1 strict, 2 filter; undefined when the kernel does not report it. */
  seccomp: number | undefined;
  noNewPrivs: boolean;
  capEff: bigint;
  capPrm: bigint;
  capBnd: bigint;
  capInh: bigint;
  capAmb: bigint;
  uid: number | undefined;
}

/** The confinement fields of /proc/<pid>/status. */
export function parseProcStatus(text: string): ProcConfinement {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const i = line.indexOf(":");
    if (i > 0) fields.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  const hex = (k: string) => {
    const v = fields.get(k);
    return v && /^[0-9a-f]{1,16}$/i.test(v) ? BigInt(`0x${v}`) : 0n;
  };
  const int = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);
  return {
    seccomp: int(fields.get("Seccomp")),
    noNewPrivs: fields.get("NoNewPrivs") === "1",
    capEff: hex("CapEff"),
    capPrm: hex("CapPrm"),
    capBnd: hex("CapBnd"),
    capInh: hex("CapInh"),
    capAmb: hex("CapAmb"),
    uid: int(fields.get("Uid")?.split(/\s+/)[0]),
  };
}

/** Soft and hard limits of one resource in /proc/<pid>/limits ("Max open files", "Max processes"). */
export function parseProcLimit(text: string, name: string): { soft: number | "unlimited"; hard: number | "unlimited" } | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const [soft, hard] = line.slice(name.length).trim().split(/\s+/);
    const n = (v: string | undefined) => (v === "unlimited" ? "unlimited" : Number(v));
    if (soft === undefined || hard === undefined) return undefined;
    return { soft: n(soft), hard: n(hard) };
  }
  return undefined;
}
