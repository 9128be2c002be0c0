import { expect, test } from "bun:test";
import { ERROR_CODES, HuskError, type ErrorCode } from "../../../src/host/errors.ts";
import { isProcessAlive } from "../../../src/host/proc.ts";

/** The error p rejects with; fails the test when p resolves. */
export async function rejection(p: Promise<unknown>): Promise<HuskError> {
  let value: unknown;
  try {
    value = await p;
  } catch (e) {
    return e as HuskError;
  }
  throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
}

/**
 * p rejects with a HuskError carrying a stable code (one of ERROR_CODES,
 * `code` when given) and, when given, a message mentioning `mentions`.
 */
export async function expectHuskError(p: Promise<unknown>, code?: ErrorCode, mentions?: string): Promise<HuskError> {
  const err = await rejection(p);
  expect(err).toBeInstanceOf(HuskError);
  expect(ERROR_CODES).toContain(err.code);
  if (code) expect(err.code).toBe(code);
  if (mentions) expect(err.message).toContain(mentions);
  return err;
}

/** True once pid is gone (a zombie counts as gone), false after timeoutMs. */
export async function gone(pid: number, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) return false;
    await Bun.sleep(25);
  }
  return true;
}

/**
 * Known differences between a driver and the contract: a clause named here
 * is skipped for that driver, visibly, with the reason (reported to the
 * driver's owners), instead of silently passing or failing.
 */
export type Deviations = Record<string, string>;

type Body = () => Promise<void> | void;

/** test(), or a visible skip when the driver is known to deviate from this clause. */
export function clause(driver: string, deviations: Deviations | undefined, name: string, fn: Body, timeoutMs?: number): void {
  const reason = deviations?.[name];
  if (reason) console.warn(`KNOWN DIFFERENCE ${driver}: "${name}" skipped: ${reason}`);
  test.skipIf(!!reason)(name, fn, timeoutMs);
}
