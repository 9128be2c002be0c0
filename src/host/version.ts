/**
 * Version and commit, baked in by build.ts (bun build --define). When run
 * from source they fall back to package.json / "dev".
 */
declare const HUSK_VERSION: string | undefined;
declare const HUSK_COMMIT: string | undefined;

export const VERSION: string = typeof HUSK_VERSION === "string" ? HUSK_VERSION : "0.1.0-dev";
export const COMMIT: string = typeof HUSK_COMMIT === "string" ? HUSK_COMMIT : "dev";
