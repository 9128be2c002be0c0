import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { shareRootfs, unshareRootfs } from "../../../src/core/rootfs.ts";
import { mountsUnder, removeTree } from "../../../src/host/mounts.ts";
import { FIXTURES, tempDir } from "../../unit/core/helpers.ts";

/** Sharing a rootfs into the sandbox: bind mount as root, symlink without; removal never crosses a mount. */

let dir: string;
beforeAll(() => {
  dir = tempDir("husk-rootfs-");
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, "src"));
  writeFileSync(join(dir, "src", "file"), "content");
});
afterAll(async () => {
  await removeTree(dir);
});

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn("SKIP: bind-mount tests need root");

describe("rootfs share", () => {
  test.skipIf(!isRoot)("as root: a bind mount, idempotent, removed without touching the source", async () => {
    const target = join(dir, "shared", "c1", "rootfs");
    expect(await shareRootfs(join(dir, "src"), target)).toBe("bind");
    expect(mountsUnder(target)).toEqual([target]);
    expect(readFileSync(join(target, "file"), "utf8")).toBe("content");
    // Sharing again replaces the share instead of stacking mounts.
    expect(await shareRootfs(join(dir, "src"), target)).toBe("bind");
    expect(mountsUnder(join(dir, "shared"))).toEqual([target]);
    await unshareRootfs(target);
    await unshareRootfs(target); // idempotent
    expect(existsSync(join(dir, "shared", "c1"))).toBe(false);
    expect(readFileSync(join(dir, "src", "file"), "utf8")).toBe("content");
  });

  test.skipIf(!isRoot)("without root (run as nobody): a symlink, clearly chosen, removed cleanly", async () => {
    const work = join(dir, "unpriv");
    mkdirSync(work);
    chownSync(work, 65534, 65534);
    const target = join(work, "shared", "c1", "rootfs");
    const run = (then?: string) =>
      Bun.spawn(
        [
          "setpriv",
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          process.execPath,
          join(FIXTURES, "share-unprivileged.ts"),
          join(dir, "src"),
          target,
          ...(then ? [then] : []),
        ],
        { stdout: "pipe", stderr: "pipe" },
      );
    const p = run();
    const [out, err] = [await new Response(p.stdout).text(), await new Response(p.stderr).text()];
    expect(await p.exited).toBe(0);
    expect(out.trim()).toBe("symlink");
    expect(err).toContain("not root");
    expect(lstatSync(target).isSymbolicLink()).toBe(true);
    expect(readlinkSync(target)).toBe(join(dir, "src"));
    const q = run("unshare");
    expect(await q.exited).toBe(0);
    expect(existsSync(join(work, "shared", "c1"))).toBe(false);
    expect(readFileSync(join(dir, "src", "file"), "utf8")).toBe("content");
  });

  test.skipIf(!isRoot)("removeTree unmounts first and never deletes through a mount", async () => {
    const tree = join(dir, "tree");
    const mnt = join(tree, "a", "m");
    mkdirSync(mnt, { recursive: true });
    await Bun.spawn(["mount", "--bind", join(dir, "src"), mnt]).exited;
    expect(mountsUnder(tree)).toEqual([mnt]);
    await removeTree(tree);
    expect(existsSync(tree)).toBe(false);
    expect(readFileSync(join(dir, "src", "file"), "utf8")).toBe("content");
  });
});
