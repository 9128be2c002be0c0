import { closeSync, fsyncSync, openSync, renameSync, writeSync } from "node:fs";

/** Write-temp, fsync, rename: a crash leaves the old or the new file, never half. Mode 0600. */
export function atomicWriteFile(path: string, data: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
