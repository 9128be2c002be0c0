import { defineCommand } from "citty";
import { DisabledError } from "../../../host/errors.ts";
import { cliRuntime } from "../../lib/runtime.ts";
import { cliConfig } from "../../lib/config.ts";
import { runDebugConsole, runningSandbox } from "../../lib/debug-console.ts";
import { strict } from "../../lib/flags.ts";
import { formatArg, outputFormat } from "../../lib/output.ts";

export default defineCommand(
  strict(
    {
      meta: {
        name: "debug-console",
        description: "an interactive root shell in a sandbox's guest VM, outside every container (needs [debug] console = true)",
      },
      args: {
        id: { type: "positional", description: "sandbox or container id", required: true },
        format: { ...formatArg, description: "json: errors as JSON on stdout (the session itself is the shell's)" },
      },
      async run({ args }) {
        outputFormat(args.format);
        if (!cliConfig().debug.console) {
          throw new DisabledError(
            "the debug console is disabled: set `[debug] console = true` in the husk configuration (it gives a root shell in the guest VM)",
          );
        }
        const { ctx } = await cliRuntime();
        const { sid, dir } = await runningSandbox(ctx, args.id);
        process.exitCode = await runDebugConsole(sid, dir);
      },
    },
    { maxPositionals: 1 },
  ),
);
