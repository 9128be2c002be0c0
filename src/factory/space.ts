import { statfsSync } from "node:fs";
import { FactoryError } from "../host/errors.ts";

/** tmpfs space: a template's memory file can grow to the guest's RAM size, so that much must be free first. */

const TMPFS_MAGIC = 0x01021994;

export function checkSpace(factoryDir: string, memoryMiB: number): void {
  const st = statfsSync(factoryDir);
  const freeMiB = Math.floor((Number(st.bavail) * Number(st.bsize)) / (1024 * 1024));
  const needMiB = memoryMiB + 16; // RAM file plus state, console and sockets
  if (freeMiB < needMiB) {
    throw new FactoryError(
      `not enough space for a ${memoryMiB} MiB template in ${factoryDir}: ${freeMiB} MiB free, ${needMiB} MiB needed (sandboxes boot cold)`,
      { details: { dir: factoryDir, freeMiB, needMiB } },
    );
  }
  if (Number(st.type) !== TMPFS_MAGIC) {
    throw new FactoryError(`${factoryDir} is not on a tmpfs ([factory] dir): a template's guest RAM file must live in memory`, {
      details: { dir: factoryDir },
    });
  }
}
