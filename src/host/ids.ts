import { InvalidIdError } from "./errors.ts";

/** Ids become path components: checked before they touch the filesystem. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function validateId(id: unknown, what = "id"): string {
  if (typeof id !== "string" || id.length === 0) {
    throw new InvalidIdError(`${what} must not be empty`);
  }
  if (!ID_PATTERN.test(id) || id.includes("..")) {
    throw new InvalidIdError(`invalid ${what} ${JSON.stringify(id)}: must match ${ID_PATTERN.source} and not contain ".."`, {
      details: { id },
    });
  }
  return id;
}
