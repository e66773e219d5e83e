/**
 * The stock placement policies of the global managers:
 * - `process-placement`: `fewest-threads` (default);
 * - `vregion-placement`: `round-robin` (default), `fewest-requests`, `most-free-memory`;
 * - `file-placement`: `fewest-files` (default), `path-hash`.
 *
 * A manager names the ones it uses in its options
 * (`{ processPlacement: "fewest-threads", vregionPlacement: "most-free-memory" }`); the
 * contracts are in `kernel/placement.ts`.
 *
 * @example
 * ```ts
 * import { PluginRegistry } from "../../kernel/plugins.ts";
 * import { placementPlugins } from "./mod.ts";
 * const registry = new PluginRegistry();
 * for (const plugin of placementPlugins) registry.register(plugin);
 * console.assert(registry.names("vregion-placement").length === 3);
 * ```
 *
 * @module
 */

import type { PluginDefinition } from "../../kernel/plugins.ts";
import type { NoPlacementOptions } from "./_options.ts";
import { fewestFilesPlugin } from "./fewest_files.ts";
import { fewestRequestsPlugin } from "./fewest_requests.ts";
import { fewestThreadsPlugin } from "./fewest_threads.ts";
import { mostFreeMemoryPlugin } from "./most_free_memory.ts";
import { pathHashPlugin } from "./path_hash.ts";
import { roundRobinPlugin } from "./round_robin.ts";

export { type NoPlacementOptions, NoPlacementOptionsSchema } from "./_options.ts";
export { createFewestFilesPolicy, fewestFilesPlugin } from "./fewest_files.ts";
export { createFewestRequestsPolicy, fewestRequestsPlugin } from "./fewest_requests.ts";
export { createFewestThreadsPolicy, fewestThreadsPlugin, threadsOn } from "./fewest_threads.ts";
export {
  createMostFreeMemoryPolicy,
  freeFrames,
  mostFreeMemoryPlugin,
} from "./most_free_memory.ts";
export { createPathHashPolicy, fnv1a32, pathHashPlugin } from "./path_hash.ts";
export { createRoundRobinPolicy, roundRobinPlugin } from "./round_robin.ts";

/**
 * Every stock placement plugin.
 *
 * @example
 * ```ts
 * import { placementPlugins } from "./mod.ts";
 * console.assert(placementPlugins.some((p) => p.name === "fewest-threads"));
 * ```
 */
export const placementPlugins: readonly PluginDefinition<NoPlacementOptions, unknown>[] = Object
  .freeze([
    fewestThreadsPlugin,
    roundRobinPlugin,
    fewestRequestsPlugin,
    mostFreeMemoryPlugin,
    fewestFilesPlugin,
    pathHashPlugin,
  ]);
