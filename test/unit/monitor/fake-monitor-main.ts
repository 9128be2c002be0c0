/**
 * Test entry standing in for `husk`: `bun fake-monitor-main.ts monitor <sid> --root R`
 * runs the real monitor code with FakeHypervisor (options from HUSK_FAKE_HV, JSON).
 */
import { parseMonitorArgs, runMonitor } from "../../../src/monitor/index.ts";
import { FakeHypervisor, type FakeOptions } from "./fakes.ts";

const [cmd, ...rest] = process.argv.slice(2);
if (cmd !== "monitor") throw new Error(`fake husk: unsupported command ${cmd}`);
const opts: FakeOptions = JSON.parse(process.env.HUSK_FAKE_HV ?? "{}");
const code = await runMonitor({ ...parseMonitorArgs(rest), hypervisor: () => new FakeHypervisor(opts) });
process.exit(code);
