import { closeSync, existsSync, openSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { resolveBinary } from "../hypervisor/qemu/probe.ts";
import type { VmSpec } from "../hypervisor/types.ts";
import { logger } from "../host/log.ts";
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
    const logPath = join(factoryDir, "build.log");
    // Appended to by every background build: started afresh past 1 MiB.
    const fd = openSync(logPath, existsSync(logPath) && statSync(logPath).size > 1024 * 1024 ? "w" : "a", 0o600);
    try {
      const nice = resolveBinary("nice");
      const argv = [...(nice ? [nice, "-n", "19"] : []), ...command, "factory", "init", "--request", request, "--factory-dir", factoryDir];
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
