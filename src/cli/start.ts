import { defineCommand } from "citty";
import { startContainer } from "../api.ts";
import { cliRuntime } from "./context.ts";
import { strict } from "./lib/flags.ts";
import { containerById } from "./lib/runtime.ts";

export default defineCommand(
  strict(
    {
      meta: { name: "start", description: "run the user process of a created container" },
      args: { id: { type: "positional", description: "container id", required: true } },
      async run({ args }) {
        const { ctx } = await cliRuntime();
        const { sid } = await containerById(ctx, args.id);
        await startContainer(ctx, sid, args.id);
      },
    },
    { maxPositionals: 1 },
  ),
);
