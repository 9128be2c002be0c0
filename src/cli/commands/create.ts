import { defineCommand } from "citty";
import { cliRuntime } from "../lib/runtime.ts";
import { strict } from "../lib/flags.ts";
import { acceptedFlags, consoleSocketArg, ioPaths, pidFileArg } from "../lib/io-args.ts";
import { checkPreserveFds } from "../lib/preserve-fds.ts";
import { createFromBundle } from "../../runtime/operations.ts";

export default defineCommand(
  strict(
    {
      meta: { name: "create", description: "create a container (boots its VM, or joins its pod's VM); the process waits for start" },
      args: {
        id: { type: "positional", description: "container id", required: true },
        bundle: { type: "string", alias: "b", description: "path to the bundle (default: current directory)" },
        "pid-file": pidFileArg,
        "console-socket": consoleSocketArg,
        ...acceptedFlags,
      },
      async run({ args }) {
        checkPreserveFds(args["preserve-fds"]);
        const io = { ...ioPaths(args), detach: true };
        const { ctx } = await cliRuntime();
        await createFromBundle(ctx, { id: args.id, bundle: args.bundle ?? process.cwd(), io });
      },
    },
    { maxPositionals: 1 },
  ),
);
