import { accessSync, closeSync, constants, existsSync, openSync, readFileSync, statSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";
import { logger } from "../../host/log.ts";
import { parseCpuInfo, type HostFacts } from "./host.ts";

/** The effects behind HostFacts: read /proc/cpuinfo, try /dev/kvm, look for vhost-vsock. */

const log = logger("qemu");

export function probeHost(): HostFacts {
  let cpuinfo = "";
  try {
    cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  } catch (err) {
    log.warn(`cannot read /proc/cpuinfo: ${String(err)}`);
  }
  const { flags, tscKhz } = parseCpuInfo(cpuinfo);
  let kvmOpens = false;
  try {
    closeSync(openSync("/dev/kvm", "r+"));
    kvmOpens = true;
  } catch {
    /* no KVM */
  }
  const facts: HostFacts = { cpuFlags: flags, tscKhz, kvmOpens, vhostVsock: existsSync("/dev/vhost-vsock") };
  log.debug(
    `host: tsc ${tscKhz ?? "unknown"} kHz, /dev/kvm ${kvmOpens ? "opens" : "unusable"}, vmx/svm ${flags.has("vmx") || flags.has("svm")}, vhost-vsock ${facts.vhostVsock}`,
  );
  return facts;
}

/** A binary given as a path, or looked up on PATH; undefined if not found/executable. */
export function resolveBinary(name: string, path = process.env.PATH ?? ""): string | undefined {
  const candidates = name.includes("/")
    ? [name]
    : path
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(d, name));
  for (const c of candidates) {
    try {
      if (!statSync(c).isFile()) continue;
      accessSync(c, constants.X_OK);
      return isAbsolute(c) ? c : join(process.cwd(), c);
    } catch {
      /* next */
    }
  }
  return undefined;
}
