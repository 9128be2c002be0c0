import type * as v from "valibot";

/**
 * valibot failures as husk errors: every boundary (config.json, husk's own
 * state files, guest messages, plugin options) names the bad field the same way.
 */

/** "process.args[0]" style JSON path of a valibot issue, for error messages. */
export function issuePath(issue: v.BaseIssue<unknown>): string {
  const parts = (issue.path ?? []).map((p) => p.key as string | number);
  return parts.reduce<string>(
    (acc, k) => (typeof k === "number" ? `${acc}[${k}]` : acc ? `${acc}.${k}` : String(k)),
    "",
  );
}
