/**
 * PACK-FULLEST, a capacity-aware vRegion placement policy written the way a user would:
 * every vRegion goes to the memory component with the fewest free frames (packing memory
 * components one after another, so that the others stay free for large processes or can be
 * powered down). Loaded with `--plugin examples/custom-placement/pack_fullest.ts`.
 *
 * Packing is only right with figures as of the decision: with heartbeat figures, a burst of
 * placements between two heartbeats sees every component as it was a period ago. So the
 * policy declares `figures: "current"`, and the manager asks every memory component for its
 * load right before each decision. With the manager's `vregionPlacementAt: "first-touch"`
 * (see `cluster.json`) the decision itself waits until a page of the vRegion first reaches
 * memory, so it sees what the memory components really hold then.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import {
  definePlugin,
  loadFigure,
  lowestBy,
  type PlacementCandidate,
  type VregionPlacementPolicy,
} from "../../plugin.ts";

/** Free frames of a memory candidate; one that reported none sorts last. */
function free(candidate: PlacementCandidate): number {
  return loadFigure(candidate, "framesFree") ?? Infinity;
}

/**
 * The policy.
 *
 * @example
 * ```ts
 * import { createPackFullest } from "./pack_fullest.ts";
 * const assigned = { threads: 0, processes: 0, homes: 0, vregions: 0, files: 0 };
 * const m = (id: string, framesFree: number) =>
 *   ({ id, role: "memory" as const, capacity: {}, load: { framesFree }, assigned, lastSeenAt: 0 });
 * const policy = createPackFullest();
 * console.assert(policy.figures === "current");
 * console.assert(policy.pickOwner({ pid: 1, vregion: 0 }, [m("m0", 90), m("m1", 10)]) === "m1");
 * ```
 */
export function createPackFullest(): VregionPlacementPolicy {
  return {
    name: "pack-fullest",
    figures: "current",
    // Fewest free frames first; among equals the one owning the most vRegions, then by id.
    pickOwner: (_request, candidates) =>
      lowestBy(candidates, (c) => [free(c), -c.assigned.vregions]).id,
  };
}

export default definePlugin({
  kind: "vregion-placement",
  name: "pack-fullest",
  description: "the memory component with the fewest free frames, by current figures",
  configSchema: z.strictObject({}),
  create: () => createPackFullest(),
});
