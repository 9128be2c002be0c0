import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { writeJsonAtomic } from "../host/json-file.ts";
import { killQemuByPidFile } from "../hypervisor/qemu/leftovers.ts";
import { logger } from "../host/log.ts";
import { identity, identityPath } from "./key.ts";
import { isLockHeld, removeLockFile } from "./lock.ts";

/**
 * The factory directory (config `[factory] dir`, a tmpfs):
 *   <key>/template.json   what the template is (written last: a template is complete once it exists)
 *   <key>/memory          guest RAM (memory-backend-file), mapped privately by every clone
 *   <key>/state           device state (QEMU migration stream, tens of KB)
 *   <key>.lock            flock held while the template is being built
 *   .build-<key>-<pid>/   a template being built, renamed to <key>/ when complete
 */

const log = logger("factory");

export const TEMPLATE_FILE = "template.json";
const BUILD_PREFIX = ".build-";
const KEY = /^[0-9a-f]{24}$/;
const posInt = v.pipe(v.number(), v.integer(), v.minValue(1));

export const TemplateRecordSchema = v.strictObject({
  version: v.literal(1),
  key: v.pipe(v.string(), v.regex(KEY)),
  createdAt: v.string(),
  husk: v.string(),
  machine: v.string(),
  vcpus: posInt,
  memoryMiB: posInt,
  nics: v.pipe(v.number(), v.integer(), v.minValue(0)),
  kernel: v.string(),
  initrd: v.optional(v.string()),
  agentDir: v.optional(v.string()),
  qemu: v.string(),
  /** File identities the template was made from (key.ts): a change means stale. */
  files: v.record(v.string(), v.string()),
  /** The full key inputs, for `husk factory status`. */
  argv: v.array(v.string()),
  stateBytes: posInt,
  stateSha256: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
  bootMs: v.pipe(v.number(), v.minValue(0)),
  saveMs: v.pipe(v.number(), v.minValue(0)),
});
export type TemplateRecord = v.InferOutput<typeof TemplateRecordSchema>;

export interface Template {
  dir: string;
  record: TemplateRecord;
}

export function templateDir(factoryDir: string, key: string): string {
  return join(factoryDir, key);
}

export function lockFile(factoryDir: string, key: string): string {
  return join(factoryDir, `${key}.lock`);
}

export function buildDir(factoryDir: string, key: string, pid = process.pid): string {
  return join(factoryDir, `${BUILD_PREFIX}${key}-${pid}`);
}

export function ensureFactoryDir(factoryDir: string): void {
  mkdirSync(factoryDir, { recursive: true, mode: 0o700 });
}

export function writeTemplateRecord(dir: string, record: TemplateRecord): void {
  writeJsonAtomic(join(dir, TEMPLATE_FILE), v.parse(TemplateRecordSchema, record));
}

export function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** Why the template in `dir` cannot be used, or undefined when it can: every file checked before a clone trusts it. */
export function checkTemplate(dir: string, key?: string): { template?: Template; problem?: string } {
  let record: TemplateRecord;
  try {
    const parsed = v.safeParse(TemplateRecordSchema, JSON.parse(readFileSync(join(dir, TEMPLATE_FILE), "utf8")));
    if (!parsed.success) return { problem: `${TEMPLATE_FILE} is invalid: ${parsed.issues[0].message}` };
    record = parsed.output;
  } catch (e) {
    return { problem: `${TEMPLATE_FILE} unreadable: ${(e as Error).message}` };
  }
  if (key !== undefined && record.key !== key) return { problem: `template.json names key ${record.key}` };
  const memory = join(dir, "memory");
  const state = join(dir, "state");
  try {
    const size = statSync(memory).size;
    if (size !== record.memoryMiB * 1024 * 1024) return { problem: `memory file is ${size} bytes, expected ${record.memoryMiB} MiB` };
  } catch {
    return { problem: "memory file missing" };
  }
  try {
    const size = statSync(state).size;
    if (size !== record.stateBytes) return { problem: `state file is ${size} bytes, expected ${record.stateBytes}` };
    if (sha256File(state) !== record.stateSha256) return { problem: "state file does not match its recorded sha256" };
  } catch {
    return { problem: "state file missing" };
  }
  return { template: { dir, record } };
}

/** The complete, intact template for `key`, or why there is none (undefined problem: simply not made yet). */
export function findTemplate(factoryDir: string, key: string): { template?: Template; problem?: string } {
  const dir = templateDir(factoryDir, key);
  if (!existsSync(dir)) return {};
  return checkTemplate(dir, key);
}

/**
 * Take a template that failed out of use: renamed aside first (a clone
 * starting now either has it open already or does not find it), then
 * removed. Clones running from it keep their mapping.
 */
export function discardTemplate(factoryDir: string, key: string): void {
  const dir = templateDir(factoryDir, key);
  const aside = join(factoryDir, `.discarded-${key}-${process.pid}-${Date.now()}`);
  try {
    renameSync(dir, aside);
  } catch {
    return; // gone already (another sandbox discarded it)
  }
  rmSync(aside, { recursive: true, force: true });
  log.warn(`template ${key} discarded`);
}

export interface TemplateListing {
  key: string;
  dir: string;
  template?: Template;
  problem?: string;
  /** The files it was made from changed (image rebuilt, QEMU upgraded): never used again. */
  stale: boolean;
}

export function listTemplates(factoryDir: string): TemplateListing[] {
  let names: string[];
  try {
    names = readdirSync(factoryDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => KEY.test(n))
    .map((key) => {
      const dir = templateDir(factoryDir, key);
      const { template, problem } = checkTemplate(dir, key);
      const stale = template ? isStale(template) : false;
      return { key, dir, stale, ...(template ? { template } : {}), ...(problem ? { problem } : {}) };
    });
}

function isStale(t: Template): boolean {
  return Object.values(t.record.files).some((id) => identity(identityPath(id)) !== id);
}

/**
 * Builds whose builder is gone (killed at any moment): kill their QEMU (pid
 * file, start time checked) and remove them. A build whose lock is held is
 * still running and is left alone.
 */
export async function sweepAbandonedBuilds(factoryDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = readdirSync(factoryDir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(BUILD_PREFIX)) continue;
    const key = name.slice(BUILD_PREFIX.length).split("-")[0] ?? "";
    if (KEY.test(key) && isLockHeld(lockFile(factoryDir, key))) continue;
    const dir = join(factoryDir, name);
    await killQemuByPidFile(dir).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    log.info(`removed abandoned template build ${dir}`);
    removed.push(dir);
  }
  sweepLockFiles(factoryDir);
  return removed;
}

/** Lock files of keys with neither a template nor a build: one per husk build and shape would pile up otherwise. */
function sweepLockFiles(factoryDir: string): void {
  let names: string[];
  try {
    names = readdirSync(factoryDir);
  } catch {
    return;
  }
  const building = new Set(names.filter((n) => n.startsWith(BUILD_PREFIX)).map((n) => n.slice(BUILD_PREFIX.length).split("-")[0]));
  for (const name of names) {
    const key = name.endsWith(".lock") ? name.slice(0, -".lock".length) : "";
    if (!KEY.test(key) || building.has(key) || existsSync(templateDir(factoryDir, key))) continue;
    removeLockFile(lockFile(factoryDir, key));
  }
}

/** A clone used this template: its directory's mtime orders eviction. */
export function markUsed(dir: string): void {
  try {
    const now = new Date();
    utimesSync(dir, now, now);
  } catch {
    // removed meanwhile: nothing to order
  }
}

/** Keep at most `max` templates (before one more is made): the least recently used go. */
export function evictTemplates(factoryDir: string, max: number): string[] {
  const all = listTemplates(factoryDir)
    .filter((t) => !isLockHeld(lockFile(factoryDir, t.key)))
    .map((t) => ({ dir: t.dir, used: mtimeOf(t.dir) }))
    .sort((a, b) => a.used - b.used);
  const removed: string[] = [];
  while (all.length > Math.max(0, max)) {
    const t = all.shift()!;
    rmSync(t.dir, { recursive: true, force: true });
    log.info(`evicted template ${t.dir} (least recently used; [factory] max_templates)`);
    removed.push(t.dir);
  }
  return removed;
}

function mtimeOf(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** Remove templates that can never be used again: stale inputs, or broken files. */
export function pruneTemplates(factoryDir: string): string[] {
  const removed: string[] = [];
  for (const t of listTemplates(factoryDir)) {
    if (!t.stale && !t.problem) continue;
    if (isLockHeld(lockFile(factoryDir, t.key))) continue;
    rmSync(t.dir, { recursive: true, force: true });
    log.info(`removed template ${t.key} (${t.problem ?? "made from files that changed since"})`);
    removed.push(t.dir);
  }
  return removed;
}
