import { defineCommand } from "citty";
import { resumeContainer } from "../../core/api.ts";
import { cliRuntime } from "../lib/runtime.ts";
import { strict } from "../lib/flags.ts";
import { containerById } from "../../runtime/lookup.ts";

export default defineCommand(
  strict(
    {
      meta: { name: "resume", description: "thaw a paused container" },
      args: { id: { type: "positional", description: "container id", required: true } },
      async run({ args }) {
        const { ctx } = await cliRuntime();
        const { sid } = await containerById(ctx, args.id);
        await resumeContainer(ctx, sid, args.id);
      },
    },
    { maxPositionals: 1 },
  ),
);
