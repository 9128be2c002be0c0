import { describe, expect, test } from "bun:test";
import {
  CONTAINER_GUARDS,
  SANDBOX_GUARDS,
  STATUSES,
  assertTransition,
  canTransition,
  guardContainer,
  guardSandbox,
  ociStatus,
  type Status,
} from "../../../src/core/status.ts";
import { type HuskError, InvalidStateError } from "../../../src/host/errors.ts";

describe("status machine", () => {
  test("the transitions kata allows, and no others", () => {
    const allowed = STATUSES.flatMap((from) => STATUSES.filter((to) => canTransition(from, to)).map((to) => `${from}->${to}`));
    expect(allowed.sort()).toEqual(
      [
        "ready->running",
        "ready->stopped",
        "running->paused",
        "running->stopped",
        "paused->running",
        "paused->stopped",
        "stopped->running",
      ].sort(),
    );
  });

  test("a refused transition is E_INVALID_STATE naming both ends", () => {
    expect(() => assertTransition("sandbox", "sb", "stopped", "paused")).toThrow(InvalidStateError);
    expect(() => assertTransition("sandbox", "sb", "stopped", "paused")).toThrow("cannot move sandbox sb from stopped to paused");
    expect(() => assertTransition("container", "c", "ready", "running")).not.toThrow();
  });

  test("OCI status: ready is created, the rest map to themselves", () => {
    expect(STATUSES.map(ociStatus)).toEqual(["created", "running", "paused", "stopped"]);
  });
});

describe("guard tables", () => {
  const cases = [
    ...Object.entries(SANDBOX_GUARDS).map(([op, g]) => ({ kind: "sandbox" as const, op, g })),
    ...Object.entries(CONTAINER_GUARDS).map(([op, g]) => ({ kind: "container" as const, op, g })),
  ];

  for (const { kind, op, g } of cases) {
    test(`${kind} ${op}: runs in ${g.allowed.join("/")}, refused otherwise with the table's words`, () => {
      const guard = (s: Status) =>
        kind === "sandbox"
          ? guardSandbox("x", s, op as keyof typeof SANDBOX_GUARDS)
          : guardContainer("x", s, op as keyof typeof CONTAINER_GUARDS);
      for (const s of STATUSES) {
        if ((g.allowed as readonly Status[]).includes(s)) {
          expect(() => guard(s)).not.toThrow();
        } else {
          let err: unknown;
          try {
            guard(s);
          } catch (e) {
            err = e;
          }
          expect(err).toBeInstanceOf(InvalidStateError);
          expect((err as HuskError).code).toBe("E_INVALID_STATE");
          expect((err as Error).message).toBe(`cannot ${g.verb} ${kind} x: it is ${s} (needs ${g.allowed.join(" or ")})`);
          expect((err as HuskError).details).toMatchObject({ kind, id: "x", state: s, operation: g.verb });
        }
      }
    });
  }

  test("every guarded operation refuses at least one status", () => {
    for (const { g } of cases) expect(g.allowed.length).toBeLessThan(STATUSES.length);
  });
});
