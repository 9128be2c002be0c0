import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, normalize } from "node:path";
import fc from "fast-check";
import * as v from "valibot";
import { METHODS } from "../../../src/agent/protocol.ts";
import { readProcessFile } from "../../../src/cli/lib/exec-process.ts";
import { createFromBundle, deleteById } from "../../../src/runtime/operations.ts";
import { validateContainerConfig } from "../../../src/core/container/config.ts";
import type { RuntimeContext } from "../../../src/core/ports.ts";
import { guestSpecOf } from "../../../src/core/guest-spec.ts";
import { HuskError } from "../../../src/host/errors.ts";
import { loadBundle } from "../../../src/oci/bundle.ts";
import { LIMITS, utf8Bytes, valueDepth } from "../../../src/oci/limits.ts";
import { mountsDir, planStorage, type SourceKind } from "../../../plugins/storage/plan.ts";
import { applyMutations, baseConfig, CONFIG_KEYS, mutationsOf } from "./arbitraries.ts";

/**
 * config.json mutations for `create`: valid JSON with wrong types, huge
 * values, unicode, paths with `..`, deep nesting; and broken texts
 * (truncated, spliced, padded). Loading is answered in bounded time with a
 * spec or an E_INVALID_SPEC/E_BUNDLE; a loaded spec is bounded (size,
 * depth), goes through everything create does with it (the API's
 * validation, the guest's spec, the storage plugin's plan, which must keep
 * every host bind inside the sandbox's mounts dir); and a full create on the
 * mock drivers either succeeds and deletes cleanly or fails with a HuskError
 * — both leaving no file under the root.
 */

/** What a config.json text can be made into. */
export type ConfigText = { kind: "json"; doc: unknown } | { kind: "text"; text: string };

const textEdit = fc.oneof(
  fc.nat().map((n) => (t: string) => t.slice(0, n % (t.length + 1))), // truncated
  fc.tuple(fc.nat(), fc.string({ unit: "binary", maxLength: 8 })).map(
    ([n, s]) =>
      (t: string) =>
        t.slice(0, n % (t.length + 1)) + s + t.slice(n % (t.length + 1)),
  ),
  fc.integer({ min: 1, max: 3_000_000 }).map((n) => (t: string) => t + " ".repeat(n)), // whitespace does not count toward the spec's size
  fc.constantFrom(
    (t: string) => `\uFEFF${t}`,
    (t: string) => t.replace(/"/g, "'"),
    (t: string) => `[${t}]`,
    () => "",
    () => "null",
    () => "1e999",
  ),
);

export const configTextArb: fc.Arbitrary<ConfigText> = fc.oneof(
  { arbitrary: mutationsOf(CONFIG_KEYS).map((m): ConfigText => ({ kind: "json", doc: applyMutations(baseConfig(), m) })), weight: 8 },
  {
    arbitrary: fc.tuple(mutationsOf(CONFIG_KEYS, 2), textEdit).map(([m, edit]): ConfigText => {
      const doc = applyMutations(baseConfig(), m);
      return { kind: "text", text: edit(String(JSON.stringify(doc, null, 1))) };
    }),
    weight: 2,
  },
);

function textOf(c: ConfigText): string {
  return c.kind === "text" ? c.text : String(JSON.stringify(c.doc));
}

const kinds: SourceKind[] = ["dir", "file", "missing", "socket", "block"];

/** Everything create does with a spec before the VM, on a loaded one; a problem as a string. */
function checkLoaded(bundle: string, spec: ReturnType<typeof loadBundle>["spec"]): string | undefined {
  const compact = utf8Bytes(JSON.stringify(spec));
  if (compact > LIMITS.specJsonBytes) return `loaded spec of ${compact} bytes`;
  if (valueDepth(spec) > LIMITS.jsonDepth) return "loaded spec too deep";
  structuredClone(spec);
  validateContainerConfig({ id: "c1", bundle, spec, io: { terminal: false, detach: true } });
  const guest = guestSpecOf(spec, "c1", { vmNetwork: true });
  const req = v.safeParse(METHODS.createContainer.request, { containerId: "c1", spec: guest, stdio: { terminal: false } });
  if (!req.success) return `the guest spec breaks the createContainer schema: ${req.issues[0].message}`;
  const sandboxDir = "/run/husk/sandboxes/sb";
  try {
    const plan = planStorage({
      mounts: spec.mounts ?? [],
      bundle,
      sandboxDir,
      containerId: "c1",
      guestShared: "/run/husk/shared",
      guestTypes: ["tmpfs", "proc"],
      kindOf: (p) => kinds[utf8Bytes(p) % kinds.length]!,
    });
    const inside = `${mountsDir(sandboxDir, "c1")}/`;
    for (const b of plan.binds) {
      if (!b.target.startsWith(inside) || normalize(b.target) !== b.target) return `bind target ${b.target} escapes ${inside}`;
      if (b.source !== normalize(b.source)) return `bind source ${b.source} not normalized`;
    }
  } catch (e) {
    if (!(e instanceof HuskError)) return `storage plan threw ${String(e)}`;
  }
  return undefined;
}

function errorProblem(e: unknown, allowed: readonly string[]): string | undefined {
  if (!(e instanceof HuskError)) return `not a HuskError: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
  if (!allowed.includes(e.code)) return `code ${e.code}: ${e.message}`;
  if (!e.message || e.message.length > 8192) return `unclear message (${e.message.length} characters)`;
  return undefined;
}

/** Files under the root (directories may stay: sandboxes/, containers/; lock files are flock targets). */
function filesUnder(root: string): string[] {
  let entries: string[] = [];
  try {
    entries = readdirSync(root, { recursive: true }) as string[];
  } catch {
    return [];
  }
  return entries.filter((e) => !e.endsWith("lock") && !statSync(join(root, e)).isDirectory());
}

export interface ConfigFuzzEnv {
  dir: string;
  /** A mock runtime context for full creates (createTestContext). */
  ctx?: RuntimeContext;
}

let counter = 0;

function writeBundle(env: ConfigFuzzEnv, c: ConfigText): string {
  const b = join(env.dir, `b${counter++}`);
  mkdirSync(join(b, "rootfs"), { recursive: true });
  mkdirSync(join(b, "data"), { recursive: true });
  writeFileSync(join(b, "config.json"), textOf(c));
  return b;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function configProperties(env: ConfigFuzzEnv): Record<string, fc.IProperty<any>> {
  return {
    "a mutated exec --process file: a bounded process the exec request accepts, or E_INVALID_SPEC": fc.property(
      mutationsOf(CONFIG_KEYS).map((m) => applyMutations(baseConfig().process, m)),
      (doc) => {
        const f = join(env.dir, `p${counter++}.json`);
        writeFileSync(f, String(JSON.stringify(doc)));
        let problem: string | undefined;
        try {
          const process = readProcessFile(f);
          const req = v.safeParse(METHODS.exec.request, { containerId: "c1", execId: "e1", process, stdio: { terminal: false } });
          if (!req.success) problem = `the process breaks the exec schema: ${req.issues[0].message}`;
        } catch (e) {
          problem = errorProblem(e, ["E_INVALID_SPEC"]);
        }
        rmSync(f, { force: true });
        if (problem) throw new Error(problem);
        return true;
      },
    ),

    "loading a mutated config.json: a bounded spec that create can use, or E_INVALID_SPEC/E_BUNDLE, in bounded time": fc.property(
      configTextArb,
      (c) => {
        const b = writeBundle(env, c);
        const t = performance.now();
        let problem: string | undefined;
        try {
          const loaded = loadBundle(b);
          problem = checkLoaded(b, loaded.spec);
        } catch (e) {
          problem = errorProblem(e, ["E_INVALID_SPEC", "E_BUNDLE"]);
        }
        const ms = performance.now() - t;
        rmSync(b, { recursive: true, force: true });
        if (problem) throw new Error(problem);
        if (ms > 2000) throw new Error(`loading took ${Math.round(ms)} ms`);
        return true;
      },
    ),
  };
}

/** Full creates on the mock drivers (slower: a mock VM per run). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function createProperties(env: ConfigFuzzEnv & { ctx: RuntimeContext }): Record<string, fc.IAsyncProperty<any>> {
  return {
    "create of a mutated config.json on the mock drivers: created and deleted, or a HuskError; nothing left under the root":
      fc.asyncProperty(configTextArb, async (c) => {
        const b = writeBundle(env, c);
        const id = `f${counter++}`;
        let problem: string | undefined;
        try {
          await createFromBundle(env.ctx, { id, bundle: b, io: { detach: true } });
          await deleteById(env.ctx, id, true);
        } catch (e) {
          problem = errorProblem(e, ["E_INVALID_SPEC", "E_BUNDLE", "E_NOT_FOUND", "E_UNSUPPORTED", "E_INVALID_ID", "E_USAGE", "E_POLICY"]);
        }
        const left = filesUnder(env.ctx.root);
        if (left.length > 0) problem = `${problem ?? "created"}; left under the root: ${left.join(", ")}`;
        rmSync(b, { recursive: true, force: true });
        if (problem) throw new Error(problem);
        return true;
      }),
  };
}
