/**
 * CLI startup benchmark (not a test): the wall time of the short commands
 * containerd and podman call constantly — `husk --version`, `husk state ID`
 * (an existing running container, and a missing id: the full error path),
 * `husk list` on an empty root and on a root of 20 running containers —
 * against crun and runc (--version, list and state of a missing id on an
 * empty root) and a trivial Bun-compiled executable that prints a string:
 * the floor any `bun build --compile` program pays. Commands run interleaved,
 * one of each per round, so that load from other processes hits them alike.
 * Target: husk ≤ 2× the trivial executable.
 *
 * The 20 containers are records written with husk's own schemas and writer
 * (sandbox.json, state.json, containers/<cid>/config.json + state.json, the
 * id mapping): no VM runs; their "VM owner" and "shim" are one sleeping child
 * of this process, so every status reads as live and nothing is repaired.
 *
 *   bun bench/cli.ts [--runs 30] [--husk dist/husk] [--compare OTHER_HUSK]
 *
 * One JSON line on stdout; progress on stderr.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import * as v from "valibot";
import { defaultSpec } from "../src/cli/lib/default-spec.ts";
import { loadConfig } from "../src/config/load.ts";
import { ContainerRecordSchema, ContainerStateSchema, SandboxRecordSchema, SandboxStateSchema } from "../src/core/records.ts";
import { buildVmSpec } from "../src/core/vmspec.ts";
import { processStartTime } from "../src/host/proc.ts";
import {
  containerConfigFile,
  containerDir,
  containerMapping,
  containerMappingsDir,
  containerStateFile,
  sandboxConfigFile,
  sandboxDir,
  sandboxLockFile,
  sandboxStateFile,
} from "../src/host/layout.ts";
import { writeJsonAtomic } from "../src/host/json-file.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "30" },
    husk: { type: "string", default: join(import.meta.dir, "../dist/husk") },
    /** Another husk executable (e.g. one built before a change) measured in the same rounds, as "<name> (compare)". */
    compare: { type: "string" },
  },
});
const runs = Number(values.runs);
const husk = resolve(values.husk!);
const note = (s: string) => process.stderr.write(`${s}\n`);
const CONTAINERS = 20;

/** Median, min, max and p90 in ms with one decimal: these are milliseconds, not seconds. */
function stats(ms: number[]): { median: number; min: number; max: number; p90: number; n: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))]!;
  const r = (x: number) => +x.toFixed(1);
  return { median: r(at(0.5)), min: r(s[0]!), max: r(s.at(-1)!), p90: r(at(0.9)), n: s.length };
}

/** A root holding `count` running containers, one per sandbox, as `husk run -d` leaves them. */
function writeRoot(root: string, count: number, ownerPid: number): void {
  const config = loadConfig({ overrides: { runtime: { root } } });
  const ownerStart = processStartTime(ownerPid);
  if (ownerStart === undefined) throw new Error(`no /proc/${ownerPid}/stat`);
  const createdAt = new Date().toISOString();
  mkdirSync(containerMappingsDir(root), { recursive: true });
  for (let i = 0; i < count; i++) {
    const id = `bench-${String(i).padStart(2, "0")}`;
    const dir = sandboxDir(root, id);
    mkdirSync(containerDir(root, id, id), { recursive: true });
    writeFileSync(sandboxLockFile(root, id), "", { mode: 0o600 });
    const vm = buildVmSpec(config, id, dir, {});
    const write = <S extends v.GenericSchema>(path: string, schema: S, value: v.InferInput<S>) =>
      writeJsonAtomic(path, v.parse(schema, value));
    write(sandboxConfigFile(root, id), SandboxRecordSchema, { id, createdAt, annotations: {}, backend: "monitor", vm });
    write(sandboxStateFile(root, id), SandboxStateSchema, { state: "running", containers: [id], vmPid: ownerPid, vmPidStart: ownerStart });
    const bundle = join(root, "bundles", id);
    write(containerConfigFile(root, id, id), ContainerRecordSchema, {
      id,
      sandboxId: id,
      bundle,
      rootfs: join(bundle, "rootfs"),
      createdAt,
      annotations: { "io.kubernetes.cri.container-type": "container" },
      io: { terminal: false, detach: true },
      spec: defaultSpec(),
    });
    write(containerStateFile(root, id, id), ContainerStateSchema, {
      state: "running",
      pid: ownerPid,
      pidStart: ownerStart,
      guestPid: 100 + i,
      share: "bind",
      startedAt: createdAt,
    });
    symlinkSync(id, containerMapping(root, id));
  }
}

interface Case {
  name: string;
  argv: string[];
  /** Expected exit code. */
  code: number;
  /** Checked once on the first run's stdout. */
  check?: (stdout: string) => boolean;
}

function commitOf(bin: string): string {
  return (
    (Bun.spawnSync([bin, "--version"])
      .stdout.toString()
      .match(/commit: (\S+)/) ?? [])[1] ?? "unknown"
  );
}

function runOnce(c: Case, capture: boolean): { ms: number; stdout: string } {
  const start = performance.now();
  const p = Bun.spawnSync(c.argv, { stdout: capture ? "pipe" : "ignore", stderr: capture ? "pipe" : "ignore", stdin: "ignore" });
  const ms = performance.now() - start;
  if (p.exitCode !== c.code) {
    throw new Error(`${c.argv.join(" ")} exited ${p.exitCode}, expected ${c.code}: ${p.stderr?.toString().trim().slice(-1000)}`);
  }
  return { ms, stdout: p.stdout?.toString() ?? "" };
}

const work = mkdtempSync(join(tmpdir(), "husk-bench-cli-"));
const owner = Bun.spawn(["sleep", "3600"], { stdio: ["ignore", "ignore", "ignore"] });
try {
  // The floor: a Bun executable compiled the way husk is (bytecode, minified) that only prints.
  const trivialSrc = join(work, "trivial.ts");
  const trivial = join(work, "trivial");
  writeFileSync(trivialSrc, 'console.log("husk version 0.0.0");\n');
  const built = Bun.spawnSync([process.execPath, "build", "--compile", "--bytecode", "--minify", "--outfile", trivial, trivialSrc], {
    stderr: "pipe",
  });
  if (built.exitCode !== 0) throw new Error(`bun build --compile failed: ${built.stderr.toString()}`);

  const empty = join(work, "empty");
  const full = join(work, "full");
  mkdirSync(empty);
  writeRoot(full, CONTAINERS, owner.pid);
  const lines = (n: number) => (out: string) => out.trimEnd().split("\n").length === n;

  const huskCases = (bin: string, suffix = ""): Case[] => [
    { name: `husk --version${suffix}`, argv: [bin, "--version"], code: 0, check: (o) => o.startsWith("husk version") },
    {
      name: `husk state${suffix}`,
      argv: [bin, "--root", full, "state", "bench-07"],
      code: 0,
      check: (o) => JSON.parse(o).status === "running",
    },
    { name: `husk state missing${suffix}`, argv: [bin, "--root", empty, "state", "nosuch"], code: 1 },
    { name: `husk list 0${suffix}`, argv: [bin, "--root", empty, "list"], code: 0, check: lines(1) },
    { name: `husk list ${CONTAINERS}${suffix}`, argv: [bin, "--root", full, "list"], code: 0, check: lines(CONTAINERS + 1) },
    {
      name: `husk list ${CONTAINERS} json${suffix}`,
      argv: [bin, "--root", full, "list", "--format", "json"],
      code: 0,
      check: (o) => JSON.parse(o).length === CONTAINERS,
    },
  ];
  const cases: Case[] = [{ name: "trivial", argv: [trivial], code: 0 }, ...huskCases(husk)];
  if (values.compare) cases.push(...huskCases(resolve(values.compare), " (compare)"));
  for (const tool of ["crun", "runc"]) {
    const path = Bun.which(tool);
    if (!path) {
      note(`${tool}: not installed, skipped`);
      continue;
    }
    const r = join(work, `${tool}-root`);
    mkdirSync(r);
    cases.push(
      { name: `${tool} --version`, argv: [path, "--version"], code: 0 },
      { name: `${tool} state missing`, argv: [path, "--root", r, "state", "nosuch"], code: 1 },
      { name: `${tool} list 0`, argv: [path, "--root", r, "list"], code: 0 },
    );
  }

  for (const c of cases) {
    const { stdout } = runOnce(c, true);
    if (c.check && !c.check(stdout)) throw new Error(`${c.argv.join(" ")}: unexpected output:\n${stdout.slice(0, 2000)}`);
  }
  const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  for (let i = 0; i < runs; i++) {
    for (const c of cases) times.get(c.name)!.push(runOnce(c, false).ms);
    if ((i + 1) % 10 === 0) note(`round ${i + 1}/${runs}`);
  }

  const results = Object.fromEntries(cases.map((c) => [c.name, stats(times.get(c.name)!)]));
  const floor = results.trivial!.median;
  const overTrivial = Object.fromEntries(
    cases.filter((c) => c.name.startsWith("husk")).map((c) => [c.name, +(results[c.name]!.median / floor).toFixed(2)]),
  );
  console.log(
    JSON.stringify({
      bench: "cli",
      what: `wall time (ms) of short CLI calls, ${runs} interleaved rounds: husk (state of a running container and of a missing id, list of 0 and ${CONTAINERS} running containers from records) against crun, runc and a trivial Bun-compiled executable; target husk ≤ 2× trivial`,
      husk: commitOf(husk),
      ...(values.compare ? { compare: commitOf(resolve(values.compare)) } : {}),
      results,
      overTrivial,
    }),
  );
} finally {
  owner.kill();
  rmSync(work, { recursive: true, force: true });
}
