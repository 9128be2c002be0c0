import { defineCommand } from "citty";
import { runMonitor } from "../../../monitor/index.ts";

/** Hidden: the per-sandbox monitor that owns QEMU (spawned by the MonitorBackend as `husk monitor <sid> --root R`). */
export default defineCommand({
  meta: { name: "monitor", description: "run a sandbox monitor (internal)", hidden: true },
  async run({ rawArgs }) {
    await runMonitor(rawArgs);
  },
});
