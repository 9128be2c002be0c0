/** Stand-in for `husk` in the VM tests: `bun monitor-main.ts monitor <sid> --root R` runs the real monitor. */
import { runMonitor } from "../../../src/monitor/index.ts";

const [cmd, ...rest] = process.argv.slice(2);
if (cmd !== "monitor") throw new Error(`monitor-main: unsupported command ${cmd}`);
await runMonitor(rest); // exits the process
