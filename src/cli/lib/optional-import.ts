import { UnsupportedError } from "../../errors.ts";

/**
 * Import a module that may not be part of this build yet. The specifier is
 * computed so the bundler does not fail on it; in a compiled binary such a
 * module is only found once the call site is switched to a literal import.
 */
export async function importOptional<T>(specifier: string, what: string): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (e) {
    throw new UnsupportedError(`${what} is not part of this build`, { cause: e });
  }
}
