import { defineCommand } from "citty";
import { processListContainer } from "../api.ts";
import { cliRuntime } from "./context.ts";
import { strict } from "./lib/flags.ts";
import { formatArg, outputFormat, printJson, printTable } from "./lib/output.ts";
import { containerById } from "./lib/runtime.ts";

export default defineCommand(
  strict(
    {
      meta: { name: "ps", description: "list the container's processes; pids are guest pids (the processes live in the VM)" },
      args: {
        format: formatArg,
        id: { type: "positional", description: "container id", required: true },
      },
      async run({ args }) {
        const format = outputFormat(args.format);
        const { ctx } = await cliRuntime();
        const { sid } = await containerById(ctx, args.id);
        const procs = await processListContainer(ctx, sid, args.id);
        if (format === "json") return printJson(procs.map((p) => p.pid));
        printTable(
          ["PID", "PPID", "USER", "STATE", "COMMAND"],
          procs.map((p) => [String(p.pid), String(p.ppid ?? ""), p.user ?? "", p.state ?? "", p.command]),
        );
      },
    },
    { maxPositionals: 1 },
  ),
);
