/**
 * Container start benchmark (not a test): `husk run` of a busybox container
 * running `true` three ways — cold (templates off), first (templates on, no
 * template yet: the run boots cold and starts a background build, which is
 * waited out between runs) and warm (a template present: the sandbox is a
 * clone) — against `runc run` of the same bundle and a raw QEMU boot of the
 * same guest image (QEMU → kernel → init → exit, no husk), sequentially on
 * this machine. Under TCG absolute times are meaningless: read the ratios.
 *
 *   bun bench/run.ts [--runs 5] [--husk dist/husk] [--config FILE]
 *
 * One JSON line on stdout; progress on stderr.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config/load.ts";
import { bareImageBoot, bootOnce, stats } from "./lib/boot-vm.ts";
import { factoryConfigs, huskOut, waitBuildsDone } from "./lib/factory-config.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    husk: { type: "string", default: join(import.meta.dir, "../dist/husk") },
    config: { type: "string" },
  },
});
const runs = Number(values.runs);
const husk = resolve(values.husk!);
const note = (s: string) => process.stderr.write(`${s}\n`);

async function timeCommand(argv: string[], env?: Record<string, string>): Promise<number> {
  const start = performance.now();
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const code = await proc.exited;
  const ms = performance.now() - start;
  if (code !== 0) {
    const err = await new Response(proc.stderr).text();
    throw new Error(`${argv.join(" ")} exited ${code}: ${err.trim().slice(-2000)}`);
  }
  return ms;
}

const work = await mkdtemp(join(tmpdir(), "husk-bench-run-"));
try {
  const bundle = join(work, "bundle");
  const mk = Bun.spawnSync(["bash", join(import.meta.dir, "../scripts/make-bundle.sh"), bundle, "true"], { stderr: "inherit" });
  if (mk.exitCode !== 0) throw new Error("make-bundle failed");
  const root = join(work, "r");

  const fc = factoryConfigs(work, values.config ? resolve(values.config) : undefined);
  const runHusk = async (label: string, config: string, before?: () => Promise<void>, after?: () => Promise<void>) => {
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) {
      await before?.();
      const t = await timeCommand([husk, "--config", config, "--root", root, "run", "--bundle", bundle, `bench-${label}-${i}`]);
      ms.push(t);
      note(`husk run (${label}) #${i + 1}: ${Math.round(t)} ms`);
      await after?.();
    }
    return ms;
  };
  const destroy = () => huskOut([husk, "--config", fc.warm, "factory", "destroy", "--factory-dir", fc.factoryDir]).then(() => {});
  const coldMs = await runHusk("cold", fc.cold);
  // First: no template; the run starts a background build, waited out (and thrown away) before the next run.
  const firstMs = await runHusk("first", fc.warm, destroy, () => waitBuildsDone(husk, fc.warm, fc.factoryDir));
  await destroy();
  note(JSON.parse(await huskOut([husk, "--config", fc.warm, "factory", "init", "--factory-dir", fc.factoryDir])).status);
  const warmMs = await runHusk("warm", fc.warm);
  await destroy();
  fc.cleanup();

  const runcMs: number[] = [];
  const hasRunc = Bun.which("runc") !== null;
  if (hasRunc) {
    for (let i = 0; i < runs; i++) {
      const ms = await timeCommand(["runc", "--root", join(work, "runc"), "run", "--bundle", bundle, `bench-runc-${i}`]);
      runcMs.push(ms);
    }
    note(`runc run: ${runcMs.map(Math.round).join(", ")} ms`);
  }

  // Raw boot of the same kernel + initramfs, with a trivial "agent" that exits at once.
  const config = loadConfig({ path: values.config });
  const bare = await bareImageBoot(config, work, "exit 0");
  const rawMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await bootOnce(bare);
    if (r.timedOut) throw new Error(`raw boot timed out:\n${r.console.slice(-2000)}`);
    rawMs.push(r.ms);
  }
  note(`raw qemu boot: ${rawMs.map(Math.round).join(", ")} ms`);

  const cold = stats(coldMs);
  const first = stats(firstMs);
  const warm = stats(warmMs);
  const raw = stats(rawMs);
  const runc = hasRunc ? stats(runcMs) : null;
  console.log(
    JSON.stringify({
      bench: "run",
      what: "husk run of `true` in a busybox bundle: cold (templates off), first (no template yet), warm (cloned from a template); runc run and a raw QEMU boot of the same image",
      accelerator: "tcg",
      husk: { cold, first, warm },
      runc,
      rawBoot: raw,
      ratio: {
        coldOverWarm: +(cold.median / warm.median).toFixed(2),
        firstOverCold: +(first.median / cold.median).toFixed(2),
        coldOverRawBoot: +(cold.median / raw.median).toFixed(2),
        warmOverRawBoot: +(warm.median / raw.median).toFixed(2),
        warmOverRunc: runc ? +(warm.median / runc.median).toFixed(1) : null,
      },
    }),
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
