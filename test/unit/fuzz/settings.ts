/**
 * The suite's fuzzing budget: a fixed seed (a failure is reproducible: fast-check
 * prints the seed and the path of the shrunk case) and counts small enough for
 * seconds on a 2-core machine. bench/fuzz.ts runs the same properties longer.
 */
export const SUITE = {
  seed: 20261204,
  decoderRuns: 300,
  guestRuns: 150,
  configRuns: 200,
  createRuns: 25,
} as const;
