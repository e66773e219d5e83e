/**
 * A GMM policy: a vRegion (or a process home) goes to the memory component with the most
 * free DRAM frames, by the `framesFree` figure of its latest heartbeat.
 *
 * Before its first heartbeat a component's free frames are estimated from what it
 * announced at join (`dramBytes` / 4 KiB, less any `framesUsed` reported); a component
 * with neither figure comes last. Ties go to the component owning the fewest vRegions
 * (homing the fewest processes, for homes), then to the lower id. The figures are as of
 * the last heartbeat, so a burst of placements between two heartbeats lands on the same
 * component unless the tie-breakers split it.
 *
 * @module
 */

import { PAGE_SIZE } from "../../kernel/messages.ts";
import { definePlugin, type PluginDefinition } from "../../kernel/plugins.ts";
import {
  loadFigure,
  lowestBy,
  type PlacementCandidate,
  type VregionPlacementPolicy,
} from "../../kernel/placement.ts";
import { type NoPlacementOptions, NoPlacementOptionsSchema } from "./_options.ts";

/**
 * Free frames of memory component `c`: reported, else estimated from its capacity.
 *
 * @example
 * ```ts
 * import { freeFrames } from "./most_free_memory.ts";
 * const assigned = { threads: 0, processes: 0, homes: 0, vregions: 0, files: 0 };
 * const fresh = { id: "m0", role: "memory", capacity: { dramBytes: 8192 * 4096 }, load: {}, assigned, lastSeenAt: 0 } as const;
 * console.assert(freeFrames(fresh) === 8192);
 * ```
 */
export function freeFrames(c: PlacementCandidate): number {
  const reported = loadFigure(c, "framesFree");
  if (reported !== undefined) return reported;
  const dram = c.capacity.dramBytes;
  if (typeof dram !== "number" || !Number.isFinite(dram)) return -Infinity;
  return Math.floor(dram / PAGE_SIZE) - (loadFigure(c, "framesUsed") ?? 0);
}

/**
 * Creates the policy.
 *
 * @example
 * ```ts
 * import { createMostFreeMemoryPolicy } from "./most_free_memory.ts";
 * const assigned = { threads: 0, processes: 0, homes: 0, vregions: 0, files: 0 };
 * const m = (id: string, framesFree: number) =>
 *   ({ id, role: "memory" as const, capacity: {}, load: { framesFree }, assigned, lastSeenAt: 0 });
 * const policy = createMostFreeMemoryPolicy();
 * console.assert(policy.pickOwner({ pid: 1, vregion: 0 }, [m("m0", 10), m("m1", 99)]) === "m1");
 * ```
 */
export function createMostFreeMemoryPolicy(): VregionPlacementPolicy {
  return {
    name: "most-free-memory",
    pickOwner: (_request, candidates) =>
      lowestBy(candidates, (c) => [-freeFrames(c), c.assigned.vregions]).id,
    pickHome: (_request, candidates) =>
      lowestBy(candidates, (c) => [-freeFrames(c), c.assigned.homes]).id,
  };
}

/** The policy as the `vregion-placement` plugin named `most-free-memory`. */
export const mostFreeMemoryPlugin: PluginDefinition<
  NoPlacementOptions,
  VregionPlacementPolicy
> = definePlugin({
  kind: "vregion-placement",
  name: "most-free-memory",
  description: "the memory component with the most free DRAM frames",
  configSchema: NoPlacementOptionsSchema,
  create: () => createMostFreeMemoryPolicy(),
});
