import policy from "../../plugins/policy/index.ts";
import storage from "../../plugins/storage/index.ts";
import network from "../../plugins/network/index.ts";
import type { AnyPlugin } from "./types.ts";

/**
 * Plugins compiled into the binary (static imports, so `bun build --compile`
 * includes them). The order is the order their hooks run at one point: policy
 * first, so a refusal comes before storage or network have done anything.
 */
export const BUNDLED_PLUGINS: readonly AnyPlugin[] = [policy, storage, network];
