import { defineCommand } from "citty";
import { listSandbox } from "../../core/api-status.ts";
import { cliReadContext } from "../lib/runtime.ts";
import { strict } from "../lib/flags.ts";
import { formatArg, outputFormat, printJson, printTable } from "../lib/output.ts";
import { runcState } from "../lib/state.ts";

export default defineCommand(
  strict(
    {
      meta: { name: "list", description: "list containers (every container of every sandbox)" },
      args: {
        format: formatArg,
        quiet: { type: "boolean", alias: "q", description: "print only the container ids" },
      },
      async run({ args }) {
        const format = outputFormat(args.format);
        const ctx = await cliReadContext();
        const states = (await listSandbox(ctx)).flatMap((sb) => sb.containers).map(runcState);
        if (args.quiet) {
          for (const s of states) console.log(s.id);
          return;
        }
        if (format === "json") return printJson(states);
        printTable(
          ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
          states.map((s) => [s.id, String(s.pid), s.status, s.bundle, s.created, s.owner || "root"]),
        );
      },
    },
    { maxPositionals: 0 },
  ),
);
