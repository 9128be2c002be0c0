import { defineCommand } from "citty";
import { cliRuntime } from "../lib/runtime.ts";
import { strict } from "../lib/flags.ts";
import { deleteById } from "../../runtime/operations.ts";

export default defineCommand(
  strict(
    {
      meta: { name: "delete", description: "delete a container; the last container of a sandbox takes its VM with it" },
      args: {
        id: { type: "positional", description: "container id", required: true },
        force: { type: "boolean", alias: "f", description: "kill and delete a running container" },
      },
      async run({ args }) {
        const { ctx } = await cliRuntime({ tolerateBrokenPlugins: true });
        await deleteById(ctx, args.id, args.force === true);
      },
    },
    { maxPositionals: 1 },
  ),
);
