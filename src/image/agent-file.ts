/**
 * The agent executable in the image: the husk binary itself, placed at
 * <image>/agent/husk and exported to the guest over 9p ("husk-agent").
 * A hard link when the image is on the same filesystem (no copy of 110 MB),
 * a copy otherwise.
 */
import { existsSync } from "node:fs";
import { copyFile, link, mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { ImageError } from "../host/errors.ts";
import { isCompiled, selfExecutable } from "../host/self.ts";

/** The executable to use as the agent: the given path, or the running husk when compiled. */
export function resolveAgentPath(given: string | undefined): string {
  if (given) {
    if (!existsSync(given)) throw new ImageError(`agent executable ${given} does not exist`);
    return given;
  }
  if (isCompiled()) return selfExecutable();
  throw new ImageError(
    "cannot tell which husk executable to put into the image: run the compiled husk (dist/husk), or give the agent path",
  );
}

export async function installAgent(source: string, dest: string): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  const [s, d] = await Promise.all([stat(source), stat(dest).catch(() => undefined)]);
  if (d && d.ino === s.ino && d.dev === s.dev) return; // already this very file
  const tmp = `${dest}.tmp`;
  await rm(tmp, { force: true });
  try {
    await link(source, tmp);
  } catch {
    await copyFile(source, tmp);
  }
  await rename(tmp, dest);
}
