import { existsSync } from "node:fs";
import { join } from "node:path";

/** The compiled binary these tests drive, as clients do; built by `bun run build.ts`. */
export const HUSK = join(import.meta.dir, "../../../dist/husk");
export const haveBinary = existsSync(HUSK);
if (!haveBinary) console.warn(`SKIP: ${HUSK} missing — run \`bun run build.ts\` first`);

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

export async function husk(args: string[], options: { cwd?: string; stdin?: string } = {}): Promise<Ran> {
  const p = Bun.spawn([HUSK, ...args], {
    cwd: options.cwd,
    stdin: options.stdin !== undefined ? new TextEncoder().encode(options.stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}
