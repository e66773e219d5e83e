/**
 * GPM's stock policy: a new process goes to the processor running the fewest threads.
 *
 * A processor's thread count is the larger of what the managers placed there (current
 * to the call) and what its latest heartbeat reported (which also counts threads a
 * process started after placement, but may be a period old). Ties go to the processor
 * running fewer processes, then to the lower id.
 *
 * @module
 */

import { definePlugin, type PluginDefinition } from "../../kernel/plugins.ts";
import {
  loadFigure,
  lowestBy,
  type PlacementCandidate,
  type ProcessPlacementPolicy,
} from "../../kernel/placement.ts";
import { type NoPlacementOptions, NoPlacementOptionsSchema } from "./_options.ts";

/**
 * Threads running on processor `c`, by the managers' count or its heartbeat.
 *
 * @example
 * ```ts
 * import { threadsOn } from "./fewest_threads.ts";
 * const assigned = { threads: 2, processes: 1, homes: 0, vregions: 0, files: 0 };
 * const p0 = { id: "p0", role: "processor", capacity: {}, load: { threads: 5 }, assigned, lastSeenAt: 0 } as const;
 * console.assert(threadsOn(p0) === 5);
 * ```
 */
export function threadsOn(c: PlacementCandidate): number {
  return Math.max(c.assigned.threads, loadFigure(c, "threads") ?? 0);
}

/**
 * Creates the policy.
 *
 * @example
 * ```ts
 * import { createFewestThreadsPolicy } from "./fewest_threads.ts";
 * const none = { threads: 0, processes: 0, homes: 0, vregions: 0, files: 0 };
 * const busy = { ...none, threads: 3, processes: 1 };
 * const policy = createFewestThreadsPolicy();
 * const id = policy.pickProcessor({ pid: 1, threads: 1 }, [
 *   { id: "p0", role: "processor", capacity: {}, load: {}, assigned: busy, lastSeenAt: 0 },
 *   { id: "p1", role: "processor", capacity: {}, load: {}, assigned: none, lastSeenAt: 0 },
 * ]);
 * console.assert(id === "p1");
 * ```
 */
export function createFewestThreadsPolicy(): ProcessPlacementPolicy {
  return {
    name: "fewest-threads",
    pickProcessor: (_request, candidates) =>
      lowestBy(candidates, (c) => [threadsOn(c), c.assigned.processes]).id,
  };
}

/** The policy as the `process-placement` plugin named `fewest-threads`. */
export const fewestThreadsPlugin: PluginDefinition<
  NoPlacementOptions,
  ProcessPlacementPolicy
> = definePlugin({
  kind: "process-placement",
  name: "fewest-threads",
  description: "the processor running the fewest threads (LegoOS GPM)",
  configSchema: NoPlacementOptionsSchema,
  create: () => createFewestThreadsPolicy(),
});
