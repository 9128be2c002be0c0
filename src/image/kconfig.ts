/**
 * Kconfig fragments and .config files: parsing and checking (pure).
 * The kernel's olddefconfig silently drops an option whose dependencies are
 * not met, so every option the fragment asks for is checked in the result.
 */

/** Option name → value ("y", "64", "\"str\""), or "n" for `# CONFIG_X is not set`. */
export type KconfigValues = Map<string, string>;

const SET = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/;
const UNSET = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/;

export function parseKconfig(text: string): KconfigValues {
  const values: KconfigValues = new Map();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const set = SET.exec(line);
    if (set) {
      values.set(set[1]!, set[2]!);
      continue;
    }
    const unset = UNSET.exec(line);
    if (unset) values.set(unset[1]!, "n");
  }
  return values;
}

export interface KconfigMismatch {
  option: string;
  wanted: string;
  /** "n" when absent or not set. */
  got: string;
}

/** Every option in `fragment` must have the same value in `final` (absent counts as "n"). */
export function checkKconfig(fragment: KconfigValues, final: KconfigValues): KconfigMismatch[] {
  const mismatches: KconfigMismatch[] = [];
  for (const [option, wanted] of fragment) {
    const got = final.get(option) ?? "n";
    if (got !== wanted) mismatches.push({ option, wanted, got });
  }
  return mismatches;
}

export function formatMismatches(mismatches: KconfigMismatch[]): string {
  return mismatches.map((m) => `${m.option}: wanted ${m.wanted}, got ${m.got}`).join("; ");
}
