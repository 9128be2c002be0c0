import { defineCommand } from "citty";
import { startContainer } from "../../core/api.ts";
import { cliRuntime } from "../lib/runtime.ts";
import { strict } from "../lib/flags.ts";
import { relaySignalsTo } from "../lib/foreground.ts";
import { acceptedFlags, consoleSocketArg, ioPaths, pidFileArg } from "../lib/io-args.ts";
import { checkPreserveFds } from "../lib/preserve-fds.ts";
import { createFromBundle, deleteById } from "../../runtime/operations.ts";

export default defineCommand(
  strict(
    {
      meta: { name: "run", description: "create and start a container; in the foreground, wait and exit with its status" },
      args: {
        id: { type: "positional", description: "container id", required: true },
        bundle: { type: "string", alias: "b", description: "path to the bundle (default: current directory)" },
        "pid-file": pidFileArg,
        "console-socket": consoleSocketArg,
        detach: { type: "boolean", alias: "d", description: "do not wait for the container to exit" },
        keep: { type: "boolean", description: "do not delete the container after it exits (foreground)" },
        ...acceptedFlags,
      },
      async run({ args }) {
        checkPreserveFds(args["preserve-fds"]);
        const detach = args.detach === true;
        const { ctx, launcher } = await cliRuntime();
        const created = await createFromBundle(ctx, {
          id: args.id,
          bundle: args.bundle ?? process.cwd(),
          io: { ...ioPaths(args), detach },
        });
        const unrelay = detach ? () => {} : relaySignalsTo(created.pid);
        try {
          await startContainer(ctx, created.sandboxId, args.id);
        } catch (e) {
          unrelay();
          await deleteById(ctx, args.id, true).catch(() => {});
          throw e;
        }
        if (detach) return;
        const exited = launcher.exited(created.pid);
        const code = exited ? await exited : 0;
        unrelay();
        if (!args.keep) await deleteById(ctx, args.id, true);
        process.exitCode = code;
      },
    },
    { maxPositionals: 1 },
  ),
);
