import * as v from "valibot";
import type { HuskError, HuskErrorOptions } from "./errors.ts";

/**
 * valibot failures as husk errors: every boundary (config.json, husk's own
 * state files, guest messages, plugin options) names the bad field the same way.
 */

/** "process.args[0]" style JSON path of a valibot issue, for error messages ("" for the value itself). */
export function issuePath(issue: v.BaseIssue<unknown>): string {
  const parts = (issue.path ?? []).map((p) => p.key as string | number);
  return parts.reduce<string>((acc, k) => (typeof k === "number" ? `${acc}[${k}]` : acc ? `${acc}.${k}` : String(k)), "");
}

/** "path: message" for the first few issues, joined with "; " (a bare message for the value itself). */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[], max = 3): string {
  return issues
    .slice(0, max)
    .map((i) => {
      const path = issuePath(i);
      return path ? `${path}: ${i.message}` : i.message;
    })
    .join("; ");
}

/** The first issue of a failed parse, as an error's `fail` callback sees it. */
export interface FirstIssue {
  /** Its path, "" when the value itself is wrong. */
  path: string;
  /** Its path, or "(top level)". */
  at: string;
  message: string;
  issues: readonly v.BaseIssue<unknown>[];
}

/** The parsed value, or the error `fail` makes of the first issue. */
export function parseOr<S extends v.GenericSchema>(schema: S, value: unknown, fail: (first: FirstIssue) => Error): v.InferOutput<S> {
  const r = v.safeParse(schema, value);
  if (r.success) return r.output;
  const issue = r.issues[0];
  const path = issuePath(issue);
  throw fail({ path, at: path || "(top level)", message: issue.message, issues: r.issues });
}

type HuskErrorClass = new (message: string, options?: HuskErrorOptions) => HuskError;

/** parseOr with the usual message, `<what>: <path>: <message>` (path "(top level)" for the value itself). */
export function parseValid<S extends v.GenericSchema>(
  schema: S,
  value: unknown,
  ErrorClass: HuskErrorClass,
  what: string,
): v.InferOutput<S> {
  return parseOr(schema, value, ({ at, message }) => new ErrorClass(`${what}: ${at}: ${message}`, { details: { path: at } }));
}
