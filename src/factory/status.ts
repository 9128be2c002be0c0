import { readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { isLockHeld } from "./lock.ts";
import { listTemplates, lockFile, sweepAbandonedBuilds } from "./store.ts";

/** `husk factory status` and `destroy`: what the factory directory holds, and emptying it. */

export interface TemplateStatus {
  key: string;
  dir: string;
  usable: boolean;
  problem?: string;
  stale: boolean;
  vcpus?: number;
  memoryMiB?: number;
  nics?: number;
  machine?: string;
  createdAt?: string;
  ageSec?: number;
  /** Host memory the template's RAM file holds now (tmpfs pages), and the state file's size. */
  memoryFileBytes?: number;
  stateBytes?: number;
  bootMs?: number;
  image?: { kernel: string; initrd?: string; agentDir?: string };
  qemu?: string;
  husk?: string;
}

export interface FactoryStatus {
  dir: string;
  templates: TemplateStatus[];
  /** Builds in progress (their builder holds the key's lock). */
  building: string[];
}

export function factoryStatus(factoryDir: string): FactoryStatus {
  const templates = listTemplates(factoryDir).map((t): TemplateStatus => {
    const r = t.template?.record;
    const base: TemplateStatus = {
      key: t.key,
      dir: t.dir,
      usable: !!t.template && !t.stale,
      stale: t.stale,
      ...(t.problem ? { problem: t.problem } : {}),
    };
    if (!r) return base;
    let memoryFileBytes: number | undefined;
    try {
      memoryFileBytes = statSync(join(t.dir, "memory")).blocks * 512;
    } catch {
      /* checked by listTemplates */
    }
    return {
      ...base,
      vcpus: r.vcpus,
      memoryMiB: r.memoryMiB,
      nics: r.nics,
      machine: r.machine,
      createdAt: r.createdAt,
      ageSec: Math.max(0, Math.round((Date.now() - Date.parse(r.createdAt)) / 1000)),
      ...(memoryFileBytes !== undefined ? { memoryFileBytes } : {}),
      stateBytes: r.stateBytes,
      bootMs: r.bootMs,
      image: { kernel: r.kernel, ...(r.initrd ? { initrd: r.initrd } : {}), ...(r.agentDir ? { agentDir: r.agentDir } : {}) },
      qemu: r.qemu,
      husk: r.husk,
    };
  });
  return { dir: factoryDir, templates, building: buildsInProgress(factoryDir) };
}

function buildsInProgress(factoryDir: string): string[] {
  try {
    return readdirSync(factoryDir)
      .filter((n) => n.startsWith(".build-"))
      .filter((n) => isLockHeld(lockFile(factoryDir, n.slice(".build-".length).split("-")[0] ?? "")));
  } catch {
    return [];
  }
}

/**
 * Remove every template and abandoned build. Clones running from a removed
 * template keep their mapping (the file goes when the last one exits).
 * Builds in progress are left to finish.
 */
export async function destroyFactory(factoryDir: string): Promise<{ removed: string[]; building: string[] }> {
  const removed = await sweepAbandonedBuilds(factoryDir);
  for (const t of listTemplates(factoryDir)) {
    rmSync(t.dir, { recursive: true, force: true });
    removed.push(t.dir);
  }
  try {
    for (const n of readdirSync(factoryDir)) {
      const path = join(factoryDir, n);
      if (n.endsWith(".lock") && !isLockHeld(path)) rmSync(path, { force: true });
      if (n.startsWith(".request-")) rmSync(path, { force: true });
    }
  } catch {
    /* no factory dir: nothing to destroy */
  }
  return { removed, building: buildsInProgress(factoryDir) };
}
