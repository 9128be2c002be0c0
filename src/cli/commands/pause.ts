import { defineCommand } from "citty";
import { pauseContainer } from "../../core/api.ts";
import { cliRuntime } from "../lib/runtime.ts";
import { strict } from "../lib/flags.ts";
import { containerById } from "../../runtime/lookup.ts";

export default defineCommand(
  strict(
    {
      meta: { name: "pause", description: "freeze every process of the container (guest cgroup freezer)" },
      args: { id: { type: "positional", description: "container id", required: true } },
      async run({ args }) {
        const { ctx } = await cliRuntime();
        const { sid } = await containerById(ctx, args.id);
        await pauseContainer(ctx, sid, args.id);
      },
    },
    { maxPositionals: 1 },
  ),
);
