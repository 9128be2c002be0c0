import { defineCommand } from "citty";
import { cliRuntime } from "../lib/runtime.ts";
import { parseDuration } from "../lib/duration.ts";
import { streamEvents } from "../lib/events.ts";
import { strict } from "../lib/flags.ts";
import { containerById } from "../../runtime/lookup.ts";

export default defineCommand(
  strict(
    {
      meta: { name: "events", description: "print container resource statistics as JSON lines until it stops" },
      args: {
        id: { type: "positional", description: "container id", required: true },
        stats: { type: "boolean", description: "print the statistics once and exit" },
        interval: { type: "string", description: "how often to sample (default 5s)" },
      },
      async run({ args }) {
        const intervalMs = parseDuration(args.interval ?? "5s");
        const { ctx } = await cliRuntime();
        const { sid } = await containerById(ctx, args.id);
        await streamEvents(ctx, sid, args.id, { once: args.stats === true, intervalMs }, (line) => console.log(line));
      },
    },
    { maxPositionals: 1 },
  ),
);
