import { UsageError } from "../../host/errors.ts";

/** A Go duration as runc's flags take them ("5s", "100ms", "1m30s"); milliseconds. */
export function parseDuration(input: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (const m of input.matchAll(re)) {
    total += Number(m[1]) * units[m[2]!]!;
    consumed += m[0].length;
  }
  if (consumed !== input.length || consumed === 0) throw new UsageError(`invalid duration ${JSON.stringify(input)} (e.g. 5s, 500ms)`);
  return total;
}
