/**
 * Fuzzing benchmark (not a test): the trust-boundary properties of
 * test/unit/fuzz/ (agent frame decoder, every message from a hostile guest
 * through the monitor's channel and router, config.json mutations for
 * create, loaded and created on the mock drivers), run much longer than the
 * suite does and from a fresh seed unless one is given.
 *
 *   bun bench/fuzz.ts [--runs 5000] [--seed N] [--only decoder,guest,config,create]
 *
 * --runs is per property for the fast ones (decoder, config); the guest and
 * create properties get a fifth of it (each of their runs sets up channels or
 * a mock VM). Prints one JSON line on stdout:
 *   {"runs":…,"failures":…,"seed":…,"durationMs":…,"properties":[…]}
 * with each failing property's shrunk counterexample (cut to 2,000
 * characters) and the seed/path that replays it. Exits 1 when a property failed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import fc from "fast-check";

// The channels log every reset they see at warn level; a long run would print thousands.
// Set before husk's modules load (src/log.ts reads it once).
process.env.HUSK_LOG_LEVEL ??= "-999";
const { makeEnv } = await import("../test/unit/core/helpers.ts");
const { configProperties, createProperties } = await import("../test/unit/fuzz/config-props.ts");
const { decoderProperties } = await import("../test/unit/fuzz/decoder-props.ts");
const { guestProperties } = await import("../test/unit/fuzz/guest-props.ts");

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "5000" },
    seed: { type: "string" },
    only: { type: "string", default: "decoder,guest,config,create" },
  },
});
const runs = Number(values.runs);
const seed = values.seed !== undefined ? Number(values.seed) : Date.now() % 2 ** 31;
const only = new Set(values.only!.split(","));

interface Result {
  group: string;
  name: string;
  runs: number;
  failed: boolean;
  durationMs: number;
  counterexample?: string;
  error?: string;
  replay?: { seed: number; path: string | undefined };
}

function cut(s: string, n = 2000): string {
  return s.length <= n ? s : `${s.slice(0, n)}… (${s.length} characters)`;
}

const results: Result[] = [];
const started = performance.now();
const scratch = mkdtempSync(join(tmpdir(), "husk-bench-fuzz-"));
const env = makeEnv();

async function run(group: string, props: Record<string, fc.IProperty<any> | fc.IAsyncProperty<any>>, numRuns: number): Promise<void> {
  if (!only.has(group)) return;
  for (const [name, property] of Object.entries(props)) {
    const t = performance.now();
    process.stderr.write(`fuzz ${group}: ${name} (${numRuns} runs)… `);
    const details = await fc.check(property as fc.IAsyncProperty<any>, { seed, numRuns });
    const r: Result = { group, name, runs: details.numRuns, failed: details.failed, durationMs: Math.round(performance.now() - t) };
    if (details.failed) {
      r.counterexample = cut(fc.stringify(details.counterexample));
      r.error = cut(details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance));
      r.replay = { seed: details.seed, path: details.counterexamplePath ?? undefined };
    }
    process.stderr.write(`${r.failed ? "FAILED" : "ok"} in ${r.durationMs} ms\n`);
    results.push(r);
  }
}

try {
  await run("decoder", decoderProperties(), runs);
  await run("guest", guestProperties(), Math.max(1, Math.round(runs / 5)));
  await run("config", configProperties({ dir: scratch }), runs);
  await run("create", createProperties({ dir: env.dir, ctx: env.ctx }), Math.max(1, Math.round(runs / 5)));
} finally {
  rmSync(scratch, { recursive: true, force: true });
  await env.cleanup();
}

const failures = results.filter((r) => r.failed).length;
console.log(
  JSON.stringify({
    benchmark: "fuzz",
    runs: results.reduce((n, r) => n + r.runs, 0),
    failures,
    seed,
    durationMs: Math.round(performance.now() - started),
    properties: results,
  }),
);
process.exit(failures > 0 ? 1 : 0);
