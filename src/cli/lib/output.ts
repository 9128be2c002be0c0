import { UsageError } from "../../host/errors.ts";

/** `--format` as runc spells it (table|json); text is accepted as table's synonym. */
export const formatArg = {
  type: "string",
  alias: "f",
  description: "output format: table (text) or json",
} as const;

export function outputFormat(value: string | undefined): "table" | "json" {
  if (value === undefined || value === "table" || value === "text") return "table";
  if (value === "json") return "json";
  throw new UsageError(`invalid --format ${JSON.stringify(value)}: expected table or json`);
}

/** console.log, not process.stdout: it writes synchronously, and creating the stream costs startup time. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value));
}

/** Columns padded like runc's tabwriter output. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3)))
      .join("")
      .trimEnd();
  console.log([line(header), ...rows.map(line)].join("\n"));
}
