import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import * as v from "valibot";
import { EVENTS, METHODS } from "../../../src/agent/protocol.ts";
import { SAMPLE_EVENTS, SAMPLE_REQUESTS, SAMPLE_RESPONSES } from "./arbitraries.ts";
import { guestProperties } from "./guest-props.ts";
import { SUITE } from "./settings.ts";

/**
 * Every message the monitor accepts from the guest, fuzzed through the real
 * guest channel, router and client (fixed seed, bounded count; bench/fuzz.ts
 * runs longer).
 */
describe("fuzz: messages from a hostile guest", () => {
  test("the samples cover every method and event, and are valid (a new method needs samples)", () => {
    expect(Object.keys(SAMPLE_REQUESTS).sort()).toEqual(Object.keys(METHODS).sort());
    expect(Object.keys(SAMPLE_RESPONSES).sort()).toEqual(Object.keys(METHODS).sort());
    expect(Object.keys(SAMPLE_EVENTS).sort()).toEqual(Object.keys(EVENTS).sort());
    for (const [m, spec] of Object.entries(METHODS)) {
      expect(v.safeParse(spec.request, SAMPLE_REQUESTS[m as keyof typeof METHODS]).success).toBe(true);
      expect(v.safeParse(spec.response, SAMPLE_RESPONSES[m as keyof typeof METHODS]).success).toBe(true);
    }
    for (const [e, schema] of Object.entries(EVENTS))
      expect(v.safeParse(schema, SAMPLE_EVENTS[e as keyof typeof EVENTS]).success).toBe(true);
  });

  for (const [name, property] of Object.entries(guestProperties())) {
    test(name, async () => {
      await fc.assert(property, { seed: SUITE.seed, numRuns: SUITE.guestRuns });
    }, 60_000);
  }
});
