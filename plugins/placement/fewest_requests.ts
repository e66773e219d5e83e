/**
 * A GMM policy: a vRegion (or a process home) goes to the memory component that has
 * served the fewest requests, by the `requests` figure of its latest heartbeat.
 *
 * A component that has not reported `requests` yet counts as 0 (it just joined). Ties,
 * including the burst of placements between two heartbeats, go to the component owning
 * the fewest vRegions (homing the fewest processes, for homes), then to the lower id.
 *
 * @module
 */

import { definePlugin, type PluginDefinition } from "../../kernel/plugins.ts";
import { loadFigure, lowestBy, type VregionPlacementPolicy } from "../../kernel/placement.ts";
import { type NoPlacementOptions, NoPlacementOptionsSchema } from "./_options.ts";

/**
 * Creates the policy.
 *
 * @example
 * ```ts
 * import { createFewestRequestsPolicy } from "./fewest_requests.ts";
 * const assigned = { threads: 0, processes: 0, homes: 0, vregions: 0, files: 0 };
 * const m = (id: string, requests: number) =>
 *   ({ id, role: "memory" as const, capacity: {}, load: { requests }, assigned, lastSeenAt: 0 });
 * const policy = createFewestRequestsPolicy();
 * console.assert(policy.pickOwner({ pid: 1, vregion: 0 }, [m("m0", 90), m("m1", 10)]) === "m1");
 * ```
 */
export function createFewestRequestsPolicy(): VregionPlacementPolicy {
  return {
    name: "fewest-requests",
    pickOwner: (_request, candidates) =>
      lowestBy(candidates, (c) => [loadFigure(c, "requests") ?? 0, c.assigned.vregions]).id,
    pickHome: (_request, candidates) =>
      lowestBy(candidates, (c) => [loadFigure(c, "requests") ?? 0, c.assigned.homes]).id,
  };
}

/** The policy as the `vregion-placement` plugin named `fewest-requests`. */
export const fewestRequestsPlugin: PluginDefinition<
  NoPlacementOptions,
  VregionPlacementPolicy
> = definePlugin({
  kind: "vregion-placement",
  name: "fewest-requests",
  description: "the memory component that has served the fewest requests",
  configSchema: NoPlacementOptionsSchema,
  create: () => createFewestRequestsPolicy(),
});
