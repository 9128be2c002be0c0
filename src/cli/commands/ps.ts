import { defineCommand, parseArgs } from "citty";
import { processListContainer } from "../../core/api.ts";
import { UsageError } from "../../host/errors.ts";
import { cliRuntime } from "../lib/runtime.ts";
import { checkFlags, strict } from "../lib/flags.ts";
import { formatArg, outputFormat, printJson } from "../lib/output.ts";
import { containerUsers, formatPs, psColumns } from "../lib/ps.ts";
import { containerById } from "../../runtime/lookup.ts";

const psArgs = { format: formatArg } as const;

export default defineCommand(
  strict(
    {
      meta: {
        name: "ps",
        description:
          "list the container's processes: ps [--format table|json] ID [PS ARGS...]; ps -ef columns by default (guest pids: the processes live in the VM)",
      },
      args: psArgs,
      async run({ rawArgs }) {
        // As runc: flags end at the container id, what follows is ps's (`ps ID -e -x`, `ps ID -- -o pid,args`).
        const split = checkFlags(rawArgs, psArgs, true);
        const [id, ...rest] = split.tail;
        if (!id) throw new UsageError("ps needs a container id");
        const format = outputFormat(parseArgs<typeof psArgs>(split.flags, psArgs).format);
        const extra = rest[0] === "--" ? rest.slice(1) : rest;
        // Checked before asking the guest: a bad option fails the same in every state.
        const columns = format === "json" ? [] : psColumns(extra);
        const { ctx } = await cliRuntime();
        const { sid, status } = await containerById(ctx, id);
        const procs = await processListContainer(ctx, sid, id);
        if (format === "json") return printJson(procs.map((p) => p.pid));
        process.stdout.write(formatPs(columns, procs, { now: Date.now() / 1000, users: containerUsers(status.rootfs) }));
      },
    },
    { stopAtPositional: true },
  ),
);
