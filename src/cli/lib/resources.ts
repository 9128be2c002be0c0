import { InvalidSpecError, UnsupportedError, UsageError } from "../../host/errors.ts";
import { describeSize, jsonTextDepthProblem, LIMITS, overLimit, readBounded } from "../../oci/limits.ts";
import { ResourcesSchema, type OciResources } from "../../oci/spec.ts";
import { parseValid } from "../../host/valid.ts";

/**
 * runc update's flags (or -r FILE) as OCI resources. The guest's cgroup v2
 * honours memory, cpu, cpuset and pids; block I/O weight, kernel memory and
 * RDT are refused: the VM has no such knobs to turn.
 */

export interface UpdateFlags {
  resources?: string;
  memory?: string;
  "memory-reservation"?: string;
  "memory-swap"?: string;
  "kernel-memory"?: string;
  "kernel-memory-tcp"?: string;
  "cpu-shares"?: string;
  "cpu-quota"?: string;
  "cpu-period"?: string;
  "cpu-rt-period"?: string;
  "cpu-rt-runtime"?: string;
  "cpuset-cpus"?: string;
  "cpuset-mems"?: string;
  "pids-limit"?: string;
  "blkio-weight"?: string;
  "l3-cache-schema"?: string;
  "mem-bw-schema"?: string;
}

const UNSUPPORTED: (keyof UpdateFlags)[] = [
  "blkio-weight",
  "kernel-memory",
  "kernel-memory-tcp",
  "l3-cache-schema",
  "mem-bw-schema",
  "cpu-rt-period",
  "cpu-rt-runtime",
];

/** "512m", "1g", "1024", "-1" (unlimited) → bytes. */
export function parseBytes(flag: string, s: string): number {
  if (s === "-1") return -1;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(s);
  if (!m) throw new UsageError(`--${flag}: invalid size ${JSON.stringify(s)}`);
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g" | "t"];
  return Math.round(Number(m[1]) * mult);
}

function int(flag: string, s: string): number {
  if (!/^-?\d+$/.test(s)) throw new UsageError(`--${flag}: expected an integer, got ${JSON.stringify(s)}`);
  return Number(s);
}

function fromFile(path: string): OciResources {
  let json: unknown;
  try {
    const read = readBounded(path, LIMITS.processFileBytes);
    if (!read.ok) {
      throw new InvalidSpecError(`resources file ${path} ${describeSize(read)}, ${overLimit(LIMITS.processFileBytes)}`, {
        details: { file: path, limit: LIMITS.processFileBytes, bytes: read.bytes },
      });
    }
    const deep = jsonTextDepthProblem(read.text, `resources file ${path}`);
    if (deep) throw new InvalidSpecError(deep, { details: { file: path, limit: LIMITS.jsonDepth } });
    json = JSON.parse(read.text);
  } catch (e) {
    if (e instanceof InvalidSpecError) throw e;
    throw new InvalidSpecError(`resources file ${path}: ${(e as Error).message}`, { cause: e });
  }
  return parseValid(ResourcesSchema, json, InvalidSpecError, `resources file ${path}`);
}

export function updateResources(f: UpdateFlags): OciResources {
  for (const k of UNSUPPORTED) {
    if (f[k] !== undefined) throw new UnsupportedError(`--${k} cannot be honoured inside the VM`);
  }
  const res: OciResources = f.resources ? fromFile(f.resources) : {};
  if (res.blockIO && Object.keys(res.blockIO).length > 0) throw new UnsupportedError("blockIO resources cannot be honoured inside the VM");
  const memory = { ...res.memory };
  if (f.memory) memory.limit = parseBytes("memory", f.memory);
  if (f["memory-reservation"]) memory.reservation = parseBytes("memory-reservation", f["memory-reservation"]);
  if (f["memory-swap"]) memory.swap = parseBytes("memory-swap", f["memory-swap"]);
  const cpu = { ...res.cpu };
  if (f["cpu-shares"]) cpu.shares = int("cpu-shares", f["cpu-shares"]);
  if (f["cpu-quota"]) cpu.quota = int("cpu-quota", f["cpu-quota"]);
  if (f["cpu-period"]) cpu.period = int("cpu-period", f["cpu-period"]);
  if (f["cpuset-cpus"]) cpu.cpus = f["cpuset-cpus"];
  if (f["cpuset-mems"]) cpu.mems = f["cpuset-mems"];
  return {
    ...res,
    ...(Object.keys(memory).length > 0 ? { memory } : {}),
    ...(Object.keys(cpu).length > 0 ? { cpu } : {}),
    ...(f["pids-limit"] ? { pids: { limit: int("pids-limit", f["pids-limit"]) } } : res.pids ? { pids: res.pids } : {}),
  };
}
