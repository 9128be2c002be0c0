import { defineCommand } from "citty";
import { importOptional } from "./lib/optional-import.ts";

/** Hidden: the guest agent (PID 1's child in the VM). */
const modulePath = ["..", "agent", "server", "index.ts"].join("/");

export default defineCommand({
  meta: { name: "agent", description: "run the in-guest agent (internal)", hidden: true },
  async run({ rawArgs }) {
    const { runAgent } = await importOptional<{ runAgent: (argv: string[]) => Promise<void> }>(
      new URL(modulePath, import.meta.url).href,
      "the guest agent",
    );
    await runAgent(rawArgs);
  },
});
