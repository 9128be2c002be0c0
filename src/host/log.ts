import { createConsola, type ConsolaInstance } from "consola";

/**
 * One root logger; subsystems use logger(tag). Logs go to stderr so stdout
 * stays for command output (JSON). The CLI reconfigures level/reporters
 * (--debug, --log, --log-format json) through configureLogging.
 */
export const rootLogger: ConsolaInstance = createConsola({
  level: process.env.HUSK_LOG_LEVEL ? Number(process.env.HUSK_LOG_LEVEL) : 3,
  stdout: process.stderr,
  stderr: process.stderr,
});

export function logger(tag: string): ConsolaInstance {
  return rootLogger.withTag(tag);
}
