import type { ConsolaInstance, ConsolaReporter } from "consola";

/**
 * One root logger; subsystems use logger(tag). Logs go to stderr so stdout
 * stays for command output (JSON). The CLI sets level and reporters (--debug,
 * --log, --log-format json) through configureLogging, once, before logging.
 *
 * Nothing is built at load: `state` and `list` (called constantly by
 * containerd and podman) mostly log nothing, and consola's full entry costs
 * ~2 ms at load (Intl.Segmenter, node:tty), process.stderr ~1 ms, one consola
 * per module-level logger(tag) ~1-2 ms. So logger(tag) is a stand-in that
 * makes its tagged consola at first use, the root is made at first use, and
 * the full consola is loaded only for its own reporters (unconfigured, or the
 * fancy reporter on a terminal). require() keeps these loads synchronous and
 * lazy in the compiled binary too.
 */

let root: ConsolaInstance | undefined;
let configured: { level: number; reporters: ConsolaReporter[] } | undefined;

export function envLogLevel(): number | undefined {
  return process.env.HUSK_LOG_LEVEL ? Number(process.env.HUSK_LOG_LEVEL) : undefined;
}

/** The root logger: as configured by setRootLogging, else consola's defaults (its own reporter) at HUSK_LOG_LEVEL or info. */
function rootLogger(): ConsolaInstance {
  if (root) return root;
  if (configured) {
    // consola/core: no default reporter, no stream read. Reporters needing the streams get them from their caller.
    const { createConsola } = require("consola/core") as typeof import("consola/core");
    root = createConsola(configured);
  } else {
    const { createConsola } = require("consola") as typeof import("consola");
    root = createConsola({ level: envLogLevel() ?? 3, stdout: process.stderr, stderr: process.stderr });
  }
  return root;
}

/** Set the root's level and reporters (the CLI's configureLogging); loggers made later follow them, as tagged consolas copy their parent when made. */
export function setRootLogging(level: number, reporters: ConsolaReporter[]): void {
  if (root) {
    root.level = level;
    root.setReporters(reporters);
  } else {
    configured = { level, reporters };
  }
}

/**
 * consola's own reporters as its createConsola picks them (fancy, or basic
 * under CI or a test runner), loading the full consola. They write to
 * ctx.options.stdout/stderr: give them streamsOn(ctx).
 */
export function consolaReporters(): ConsolaReporter[] {
  const { createConsola } = require("consola") as typeof import("consola");
  return createConsola({ stdout: process.stderr, stderr: process.stderr }).options.reporters;
}

/** A reporter context whose stdout and stderr are process.stderr, as the root's were before logging was made lazy. */
export function streamsOn<C extends { options: object }>(ctx: C): C {
  return { ...ctx, options: { ...ctx.options, stdout: process.stderr, stderr: process.stderr } };
}

/** The level a tagged logger made now would copy. */
function rootLevel(): number {
  return root ? root.level : configured ? configured.level : (envLogLevel() ?? 3);
}

/** consola's levels of the types husk logs below its default level (consola/core LogTypes). */
const QUIET_LEVELS: Record<string, number> = { info: 3, debug: 4, trace: 5 };

/**
 * A logger tagged `tag`: the tagged consola is made at first use (method call
 * or property read). A debug line below the level makes nothing, as consola
 * would drop it unseen: state and list log a few.
 */
export function logger(tag: string): ConsolaInstance {
  let real: ConsolaInstance | undefined;
  const get = () => (real ??= rootLogger().withTag(tag));
  const quiet = new Map<string, ConsolaInstance["debug"]>();
  const quietFn = (type: string): ConsolaInstance["debug"] => {
    const level = QUIET_LEVELS[type]!;
    const dropped = () => level > (real ? real.level : rootLevel());
    const call = (raw: boolean, args: unknown[]) => {
      if (dropped()) return false;
      const f = get()[type as "debug"];
      return (raw ? f.raw : f)(...(args as [unknown]));
    };
    const fn = ((...args: unknown[]) => call(false, args)) as ConsolaInstance["debug"];
    fn.raw = (...args: unknown[]) => call(true, args);
    return fn;
  };
  return new Proxy({} as ConsolaInstance, {
    get(_, key) {
      if (!real && typeof key === "string" && key in QUIET_LEVELS) {
        let fn = quiet.get(key);
        if (!fn) quiet.set(key, (fn = quietFn(key)));
        return fn;
      }
      const r = get();
      const value = Reflect.get(r, key, r);
      // Log methods are the instance's own arrow functions (with .raw); prototype methods need their `this`.
      return typeof value === "function" && !Object.hasOwn(r, key) ? value.bind(r) : value;
    },
    set: (_, key, value) => Reflect.set(get(), key, value),
    has: (_, key) => Reflect.has(get(), key),
  });
}
