import { defineCommand } from "citty";
import { listPlugins } from "../../../plugins/index.ts";
import { globals } from "../../globals.ts";
import { cliConfig } from "../../lib/config.ts";
import { strict } from "../../lib/flags.ts";
import { formatArg, outputFormat, printJson, printTable } from "../../lib/output.ts";

const list = defineCommand(
  strict(
    {
      meta: { name: "list", description: "list the plugins the configuration and --plugin load" },
      args: { format: formatArg },
      async run({ args }) {
        const format = outputFormat(args.format);
        const plugins = await listPlugins({ config: cliConfig(), extraPluginPaths: globals().plugins });
        if (format === "json") return printJson(plugins);
        printTable(
          ["NAME", "SOURCE", "ENABLED", "HOOKS"],
          plugins.map((p) => [p.name, p.path ?? p.source, String(p.enabled), p.hooks.join(",")]),
        );
      },
    },
    { maxPositionals: 0 },
  ),
);

export default defineCommand({
  meta: { name: "plugins", description: "inspect TypeScript plugins" },
  subCommands: { list },
});
