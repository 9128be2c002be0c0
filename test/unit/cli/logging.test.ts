import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * What each logging configuration prints (configureLogging + logger(tag)),
 * byte for byte: the global root logger is per process, so each case runs
 * in its own `bun` process with a fixed environment. Times are normalised.
 */
const work = mkdtempSync(join(tmpdir(), "husk-logging-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const script = join(work, "log.ts");
const src = join(import.meta.dir, "../../../src");
writeFileSync(
  script,
  `import { configureLogging } from ${JSON.stringify(join(src, "cli/logging.ts"))};
import { logger } from ${JSON.stringify(join(src, "host/log.ts"))};
const early = logger("early");
const [g, role, json, tty] = JSON.parse(process.argv[2]);
if (tty) Object.defineProperty(process.stderr, "isTTY", { value: true });
if (g) configureLogging({ logFormat: "text", debug: false, systemdCgroup: false, plugins: [], help: false, version: false, ...g }, role, { json });
const log = logger("t");
log.trace("trc");
log.debug("dbg %d", 1);
log.info("info");
log.warn("careful", { a: 1 });
log.error("bad", "thing");
logger("u").withTag("v").warn("nested");
if (process.env.EARLY) early.warn("early");
`,
);

interface Case {
  globals?: Record<string, unknown>;
  role?: "cli" | "shim";
  json?: boolean;
  tty?: boolean;
  env?: Record<string, string>;
}

function run(c: Case): { stderr: string; file: string } {
  const log = join(work, "out.log");
  rmSync(log, { force: true });
  const globals = c.globals && { ...c.globals, ...(c.globals.log ? { log } : {}) };
  const p = Bun.spawnSync([process.execPath, script, JSON.stringify([globals ?? null, c.role ?? "cli", c.json ?? false, c.tty ?? false])], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/", TERM: "xterm", ...c.env },
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(p.exitCode).toBe(0);
  expect(p.stdout.toString()).toBe("");
  let file = "";
  try {
    file = readFileSync(log, "utf8");
  } catch {}
  const times = (s: string) => s.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, "T");
  return { stderr: times(p.stderr.toString()), file: times(file) };
}

const PLAIN_WARN = "[warn] [t] careful { a: 1 }\n[error] [t] bad thing\n[warn] [u:v] nested\n";
const FANCY_WARN = "\n[t]  WARN  careful { a: 1 }\n\n\n[t]  ERROR  bad thing\n\n\n[u:v]  WARN  nested\n\n";

describe("logging output", () => {
  test("quiet by default: warnings and errors as plain lines on stderr when it is not a terminal", () => {
    expect(run({ globals: {} })).toEqual({ stderr: PLAIN_WARN, file: "" });
  });
  test("--debug adds debug lines (not trace)", () => {
    expect(run({ globals: { debug: true } }).stderr).toBe(`[debug] [t] dbg 1\n[info] [t] info\n${PLAIN_WARN}`);
  });
  test("HUSK_LOG_LEVEL sets the level; --debug raises it to at least debug", () => {
    expect(run({ globals: {}, env: { HUSK_LOG_LEVEL: "3" } }).stderr).toBe(`[info] [t] info\n${PLAIN_WARN}`);
    expect(run({ globals: { debug: true }, env: { HUSK_LOG_LEVEL: "5" } }).stderr).toBe(
      `[trace] [t] trc\n[debug] [t] dbg 1\n[info] [t] info\n${PLAIN_WARN}`,
    );
    expect(run({ globals: { debug: true }, env: { HUSK_LOG_LEVEL: "0" } }).stderr).toBe(
      `[debug] [t] dbg 1\n[info] [t] info\n${PLAIN_WARN}`,
    );
  });
  test("a terminal gets consola's fancy reporter; NO_COLOR, TERM=dumb or --format json keep plain lines", () => {
    expect(run({ globals: {}, tty: true }).stderr).toBe(FANCY_WARN);
    expect(run({ globals: { debug: true }, tty: true }).stderr).toBe(`[t] \u2699 dbg 1\n[t] \u2139 info\n${FANCY_WARN}`);
    expect(run({ globals: {}, tty: true, env: { NO_COLOR: "1" } }).stderr).toBe(PLAIN_WARN);
    expect(run({ globals: {}, tty: true, env: { TERM: "dumb" } }).stderr).toBe(PLAIN_WARN);
    expect(run({ globals: {}, tty: true, json: true }).stderr).toBe(PLAIN_WARN);
  });
  test("under a test runner or CI consola's 'fancy' reporter is its basic one", () => {
    expect(run({ globals: {}, tty: true, env: { NODE_ENV: "test" } }).stderr).toBe(PLAIN_WARN);
    expect(run({ globals: {}, tty: true, env: { CI: "true" } }).stderr).toBe(PLAIN_WARN);
  });
  test("--log-format json writes logrus-style lines to stderr", () => {
    expect(run({ globals: { logFormat: "json" } }).stderr).toBe(
      '{"level":"warning","msg":"[t] careful { a: 1 }","time":"T"}\n{"level":"error","msg":"[t] bad thing","time":"T"}\n{"level":"warning","msg":"[u:v] nested","time":"T"}\n',
    );
  });
  test("--log writes runc lines to the file only (text or json), for the shim too", () => {
    expect(run({ globals: { log: true, debug: true } })).toEqual({
      stderr: "",
      file:
        'time="T" level=debug msg="[t] dbg 1"\ntime="T" level=info msg="[t] info"\ntime="T" level=warning msg="[t] careful { a: 1 }"\n' +
        'time="T" level=error msg="[t] bad thing"\ntime="T" level=warning msg="[u:v] nested"\n',
    });
    expect(run({ globals: { log: true, logFormat: "json" }, role: "shim" })).toEqual({
      stderr: "",
      file: '{"level":"warning","msg":"[t] careful { a: 1 }","time":"T"}\n{"level":"error","msg":"[t] bad thing","time":"T"}\n{"level":"warning","msg":"[u:v] nested","time":"T"}\n',
    });
  });
  test("the shim without --log logs nothing (its stderr is the container's)", () => {
    expect(run({ globals: { debug: true }, role: "shim" })).toEqual({ stderr: "", file: "" });
  });
  test("a logger made before configureLogging follows it (tagged consolas are made at first use)", () => {
    expect(run({ globals: { logFormat: "json" }, env: { EARLY: "1" } }).stderr).toEndWith(
      '{"level":"warning","msg":"[early] early","time":"T"}\n',
    );
  });
  test("unconfigured (library use, tests): consola's defaults at HUSK_LOG_LEVEL or info, on stderr", () => {
    expect(run({ env: { NODE_ENV: "test" } }).stderr).toBe(`[info] [t] info\n${PLAIN_WARN}`);
    expect(run({}).stderr).toBe(`[t] \u2139 info\n${FANCY_WARN}`);
    expect(run({ env: { NODE_ENV: "test", HUSK_LOG_LEVEL: "1" } }).stderr).toBe(PLAIN_WARN);
  });
});

describe("logger(tag)", () => {
  test("is a whole consola instance: log methods with .raw, level, withTag", async () => {
    const { logger } = await import("../../../src/host/log.ts");
    const log = logger("x");
    expect(typeof log.info).toBe("function");
    expect(typeof log.warn.raw).toBe("function");
    expect(typeof log.level).toBe("number");
    expect(log.withTag("y").options.defaults.tag).toBe("x:y");
    expect("debug" in log).toBe(true);
  });
});
