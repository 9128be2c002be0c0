import { describe, test } from "bun:test";
import fc from "fast-check";
import { decoderProperties } from "./decoder-props.ts";
import { SUITE } from "./settings.ts";

/** The agent frame decoder under fast-check, with a fixed seed and a bounded count (bench/fuzz.ts runs longer). */
describe("fuzz: agent frame decoder", () => {
  for (const [name, property] of Object.entries(decoderProperties())) {
    test(name, () => {
      fc.assert(property, { seed: SUITE.seed, numRuns: SUITE.decoderRuns });
    });
  }
});
