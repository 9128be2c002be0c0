import * as api from "./api.ts";

/**
 * Serve `husk/plugin` to plugins imported from disk. A compiled binary has no
 * node_modules to resolve it from; Bun's runtime plugin API can answer an
 * import with a module object, which works in `bun run` and in `bun build
 * --compile` output alike (tested in test/unit/plugins/compiled.test.ts).
 */
let registered = false;
export function registerPluginApiModule(): void {
  if (registered) return;
  registered = true;
  Bun.plugin({
    name: "husk-plugin-api",
    setup(build) {
      build.module("husk/plugin", () => ({ exports: { ...api }, loader: "object" }));
    },
  });
}
