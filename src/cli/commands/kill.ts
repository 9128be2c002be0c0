import { defineCommand } from "citty";
import { killContainer } from "../../core/api.ts";
import { cliRuntime } from "../lib/runtime.ts";
import { strict } from "../lib/flags.ts";
import { containerById } from "../../runtime/lookup.ts";
import { parseSignal } from "../lib/signals.ts";

export default defineCommand(
  strict(
    {
      meta: { name: "kill", description: "send a signal (default TERM) to the container's init process in the guest" },
      args: {
        id: { type: "positional", description: "container id", required: true },
        signal: { type: "positional", description: "number or name, with or without SIG", required: false, default: "TERM" },
        all: { type: "boolean", alias: "a", description: "send to every process of the container" },
      },
      async run({ args }) {
        const signal = parseSignal(args.signal);
        const { ctx } = await cliRuntime();
        const { sid } = await containerById(ctx, args.id);
        await killContainer(ctx, sid, args.id, signal, args.all === true);
      },
    },
    { maxPositionals: 2 },
  ),
);
