import { defineCommand } from "citty";
import { cliConfig, cliConfigPath } from "../../lib/config.ts";
import { strict } from "../../lib/flags.ts";
import { formatArg, outputFormat, printJson } from "../../lib/output.ts";

const show = defineCommand(
  strict(
    {
      meta: { name: "show", description: "print the effective configuration (file, defaults and flags)" },
      args: { format: formatArg },
      run({ args }) {
        const config = cliConfig();
        if (outputFormat(args.format) === "json") printJson(config);
        else {
          process.stdout.write(`# ${cliConfigPath()} (with defaults and command-line overrides)\n`);
          process.stdout.write(`${Bun.inspect(config, { depth: 6, colors: false })}\n`);
        }
      },
    },
    { maxPositionals: 0 },
  ),
);

export default defineCommand({
  meta: { name: "config", description: "inspect husk's configuration" },
  subCommands: { show },
});
