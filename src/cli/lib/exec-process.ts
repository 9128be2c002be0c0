import { InvalidSpecError, NotFoundError, UnsupportedError, UsageError } from "../../host/errors.ts";
import { describeSize, jsonTextDepthProblem, LIMITS, overLimit, readBounded } from "../../oci/limits.ts";
import { ProcessSchema, type OciProcess, type OciSpec } from "../../oci/spec.ts";
import { parseOr } from "../../host/valid.ts";

/**
 * The process `exec` runs: from --process FILE (containerd's shim writes
 * one), validated like config.json's process; otherwise the container's own
 * process with the command line and the flags laid over it, as runc does.
 */

export interface ExecFlags {
  args: string[];
  tty: boolean;
  cwd?: string;
  env: string[];
  user?: string;
  additionalGids: string[];
  caps: string[];
  noNewPrivs: boolean;
}

/** `--process FILE` ("-": stdin), bounded before it is parsed (docs/limits.md). */
export function readProcessFile(path: string): OciProcess {
  const what = path === "-" ? "process file (stdin)" : `process file ${path}`;
  let json: unknown;
  try {
    const read = readBounded(path, LIMITS.processFileBytes);
    if (!read.ok) {
      throw new InvalidSpecError(`${what} ${describeSize(read)}, ${overLimit(LIMITS.processFileBytes)}`, {
        details: { file: path, limit: LIMITS.processFileBytes, bytes: read.bytes },
      });
    }
    const deep = jsonTextDepthProblem(read.text, what);
    if (deep) throw new InvalidSpecError(deep, { details: { file: path, limit: LIMITS.jsonDepth } });
    json = JSON.parse(read.text);
  } catch (e) {
    if (e instanceof InvalidSpecError) throw e;
    throw new InvalidSpecError(`${what}: ${(e as Error).message}`, { cause: e, details: { file: path } });
  }
  const p = parseOr(
    ProcessSchema,
    json,
    (i) => new InvalidSpecError(`${what}: ${i.path ? `${i.path}: ` : ""}${i.message}`, { details: { file: path, path: i.at } }),
  );
  if (!p.args || p.args.length === 0) throw new InvalidSpecError(`${what}: args: must not be empty`);
  return p;
}

function parseUser(user: string): { uid: number; gid: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!m) throw new UsageError(`--user ${JSON.stringify(user)}: expected uid[:gid] as numbers`);
  return { uid: Number(m[1]), gid: Number(m[2] ?? 0) };
}

function mergeEnv(base: readonly string[], extra: readonly string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...base, ...extra]) out.set(e.split("=")[0]!, e);
  return [...out.values()];
}

export function execProcess(spec: OciSpec, flags: ExecFlags): OciProcess {
  if (flags.args.length === 0) throw new UsageError("exec needs a command to run (or --process FILE)");
  const base = spec.process ?? { user: { uid: 0, gid: 0 }, cwd: "/" };
  const user = flags.user ? { ...base.user, ...parseUser(flags.user) } : { ...base.user };
  if (flags.additionalGids.length > 0) {
    user.additionalGids = flags.additionalGids.map((g) => {
      if (!/^\d+$/.test(g)) throw new UsageError(`--additional-gids ${JSON.stringify(g)}: expected a number`);
      return Number(g);
    });
  }
  const caps = base.capabilities;
  const withCaps = (set: string[] | undefined) => [...new Set([...(set ?? []), ...flags.caps])];
  return {
    ...base,
    terminal: flags.tty,
    args: flags.args,
    env: mergeEnv(base.env ?? [], flags.env),
    cwd: flags.cwd ?? base.cwd,
    user,
    ...(flags.caps.length > 0
      ? {
          capabilities: {
            ...caps,
            bounding: withCaps(caps?.bounding),
            effective: withCaps(caps?.effective),
            permitted: withCaps(caps?.permitted),
            ambient: withCaps(caps?.ambient),
          },
        }
      : {}),
    ...(flags.noNewPrivs ? { noNewPrivileges: true } : {}),
  };
}

/**
 * runc's `exec --cgroup [CONTROLLERS:]PATH` (repeatable) puts the process in
 * a sub-cgroup of the container's. In a VM the exec'd process joins the
 * container's own cgroup in the guest, so only a path naming that cgroup
 * ("/", "." or empty) is accepted; a path leaving it ("..") names no
 * sub-cgroup (runc: "is not a sub cgroup path"), any other sub-cgroup is
 * refused rather than silently ignored. Both fail the exec (exit 255, as runc).
 */
export function checkExecCgroups(values: string[]): void {
  for (const value of values) {
    const colon = value.indexOf(":");
    const path = colon >= 0 ? value.slice(colon + 1) : value;
    const parts = path.split("/").filter((p) => p !== "" && p !== ".");
    if (parts.length === 0) continue;
    let depth = 0;
    for (const p of parts) {
      depth += p === ".." ? -1 : 1;
      if (depth < 0) {
        throw new NotFoundError(`exec --cgroup ${value}: not a sub-cgroup of the container's cgroup (the path leaves it)`, {
          details: { cgroup: value },
        });
      }
    }
    throw new UnsupportedError(
      `exec --cgroup ${value}: placing the process in a sub-cgroup is not supported (it joins the container's cgroup in the guest)`,
      {
        details: { cgroup: value },
      },
    );
  }
}
