import { mkdirSync, readlinkSync, rmSync, symlinkSync, existsSync } from "node:fs";
import { AlreadyExistsError, NotFoundError, asHuskError } from "../../host/errors.ts";
import { validateId } from "../../host/ids.ts";
import { containerMapping, containerMappingsDir, DIR_MODE, sandboxDir } from "../../host/layout.ts";

/** Container ids are host-wide: <root>/containers/<cid> is a symlink naming the sandbox that holds it. */

/** Claim the container id host-wide: <root>/containers/<cid> → sid (atomic symlink). */
export function claimContainerId(root: string, sid: string, cid: string): void {
  mkdirSync(containerMappingsDir(root), { recursive: true, mode: DIR_MODE });
  const link = containerMapping(root, cid);
  try {
    symlinkSync(sid, link);
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw asHuskError(e, "E_IO", `cannot record container ${cid}`);
  }
  // A mapping to a sandbox that no longer exists is a leftover of a crash: replace it.
  const owner = readlinkSync(link);
  if (existsSync(sandboxDir(root, owner))) {
    throw new AlreadyExistsError(`container ${cid} already exists (in sandbox ${owner})`, {
      details: { containerId: cid, sandboxId: owner },
    });
  }
  rmSync(link, { force: true });
  symlinkSync(sid, link);
}

/** Remove <root>/containers/<cid> if it still names sid. */
export function releaseContainerId(root: string, sid: string, cid: string): void {
  const link = containerMapping(root, cid);
  try {
    if (readlinkSync(link) === sid) rmSync(link, { force: true });
  } catch {
    // absent already
  }
}

/** Which sandbox holds container cid (E_NOT_FOUND when none). */
export function sandboxIdOf(root: string, cid: string): string {
  const link = containerMapping(root, validateId(cid, "container id"));
  let sid: string;
  try {
    sid = readlinkSync(link);
  } catch {
    throw new NotFoundError(`container ${cid} not found`, { details: { containerId: cid } });
  }
  if (!existsSync(sandboxDir(root, sid))) throw new NotFoundError(`container ${cid} not found`, { details: { containerId: cid } });
  return sid;
}
