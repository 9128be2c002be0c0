import { closeSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { VmSpec } from "../hypervisor/types.ts";
import { logger } from "../log.ts";
import { ensureFactoryDir } from "./store.ts";

/**
 * The background template build a cold boot starts when no template
 * matched: a detached `husk factory init --request FILE` at the lowest CPU
 * priority (nice 19), so the sandbox that started it — and the ones after —
 * are not slowed by it. Its log is <factoryDir>/build.log.
 */

const log = logger("factory");

export function spawnTemplateBuild(command: string[], factoryDir: string, spec: VmSpec, key: string): number | undefined {
  try {
    ensureFactoryDir(factoryDir);
    const request = join(factoryDir, `.request-${key}-${process.pid}.json`);
    writeFileSync(request, JSON.stringify(spec), { mode: 0o600 });
    const fd = openSync(join(factoryDir, "build.log"), "a", 0o600);
    try {
      const argv = ["nice", "-n", "19", ...command, "factory", "init", "--request", request, "--factory-dir", factoryDir];
      const child = Bun.spawn(argv, { cwd: "/", detached: true, stdio: ["ignore", fd, fd] });
      child.unref();
      log.info(`no template ${key} yet: building one in the background (pid ${child.pid}, log ${join(factoryDir, "build.log")})`);
      return child.pid;
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    log.warn(`cannot start a template build: ${(e as Error).message}`);
    return undefined;
  }
}
