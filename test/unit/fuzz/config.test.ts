import { afterAll, beforeAll, describe, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { makeEnv, type Env } from "../core/helpers.ts";
import { configProperties, createProperties } from "./config-props.ts";
import { SUITE } from "./settings.ts";

/** config.json mutations for create (fixed seed, bounded count; bench/fuzz.ts runs longer). */
describe("fuzz: config.json for create", () => {
  let dir: string;
  let env: Env;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "husk-fuzz-config-"));
    env = makeEnv();
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await env.cleanup();
  });

  test("load", () => {
    for (const property of Object.values(configProperties({ dir }))) fc.assert(property, { seed: SUITE.seed, numRuns: SUITE.configRuns });
  }, 60_000);

  test("create on the mock drivers", async () => {
    for (const property of Object.values(createProperties({ dir: env.dir, ctx: env.ctx }))) {
      await fc.assert(property, { seed: SUITE.seed, numRuns: SUITE.createRuns });
    }
  }, 60_000);
});
