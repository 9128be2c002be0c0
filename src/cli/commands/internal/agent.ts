import { defineCommand } from "citty";
import { runAgent } from "../../../agent/server/index.ts";

/** Hidden: the guest agent, run by the guest's init as `/husk/husk agent`. */
export default defineCommand({
  meta: { name: "agent", description: "run the in-guest agent (internal)", hidden: true },
  async run({ rawArgs }) {
    await runAgent(rawArgs);
  },
});
