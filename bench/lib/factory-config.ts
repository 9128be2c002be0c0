/**
 * Config files for the template benchmarks: the caller's config (if any)
 * with a [factory] section of our own — templates off, or on with a
 * private factory directory — so one run compares both ways.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface FactoryConfigs {
  cold: string;
  warm: string;
  /** The private factory directory the warm config names (a tmpfs). */
  factoryDir: string;
  cleanup(): void;
}

export function factoryConfigs(work: string, base: string | undefined): FactoryConfigs {
  const text = base ? readFileSync(base, "utf8") : "";
  if (/^\s*\[factory\]/m.test(text)) throw new Error(`${base} has a [factory] section: the benchmark sets its own`);
  const factoryDir = `/dev/shm/husk-bench-${process.pid}`;
  const cold = join(work, "cold.toml");
  const warm = join(work, "warm.toml");
  writeFileSync(cold, `${text}\n[factory]\ntemplate = false\n`);
  writeFileSync(warm, `${text}\n[factory]\ntemplate = true\ndir = ${JSON.stringify(factoryDir)}\n`);
  return {
    cold,
    warm,
    factoryDir,
    cleanup: () => rmSync(factoryDir, { recursive: true, force: true }),
  };
}

/** Run husk and return stdout; throws with stderr on failure. */
export async function huskOut(argv: string[]): Promise<string> {
  const p = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${err.trim().slice(-2000)}`);
  return out;
}

/** Wait until the background template build a cold run started has finished (a usable template, nothing building). */
export async function waitBuildsDone(husk: string, config: string, factoryDir: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = JSON.parse(await huskOut([husk, "--config", config, "factory", "status", "--factory-dir", factoryDir]));
    if (!s.building.length && s.templates.some((t: { usable: boolean }) => t.usable)) return;
    if (Date.now() > deadline) throw new Error("background template build did not finish");
    await Bun.sleep(250);
  }
}
