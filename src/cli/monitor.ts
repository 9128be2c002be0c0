import { defineCommand } from "citty";
import { importOptional } from "./lib/optional-import.ts";

/** Hidden: the per-sandbox monitor that owns QEMU (spawned by the MonitorBackend). */
const modulePath = ["..", "monitor", "index.ts"].join("/");

export default defineCommand({
  meta: { name: "monitor", description: "run a sandbox monitor (internal)", hidden: true },
  async run({ rawArgs }) {
    const { runMonitor } = await importOptional<{ runMonitor: (argv: string[]) => Promise<void> }>(
      new URL(modulePath, import.meta.url).href,
      "the sandbox monitor",
    );
    await runMonitor(rawArgs);
  },
});
