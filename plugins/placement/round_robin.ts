/**
 * A GMM policy: vRegions (and process homes) go to the memory components in turn.
 *
 * The cursor remembers the id it placed on last, not a position, so a component going
 * down or joining does not make the turn skip or repeat anyone: the next placement goes
 * to the first candidate whose id sorts after the last one (wrapping around).
 *
 * @module
 */

import { definePlugin, type PluginDefinition } from "../../kernel/plugins.ts";
import type { PlacementCandidate, VregionPlacementPolicy } from "../../kernel/placement.ts";
import { type NoPlacementOptions, NoPlacementOptionsSchema } from "./_options.ts";

/**
 * Creates the policy (each instance has its own turn).
 *
 * @example
 * ```ts
 * import { createRoundRobinPolicy } from "./round_robin.ts";
 * const assigned = { threads: 0, processes: 0, homes: 0, vregions: 0, files: 0 };
 * const memories = ["m0", "m1", "m2"].map((id) => ({
 *   id, role: "memory" as const, capacity: {}, load: {}, assigned, lastSeenAt: 0,
 * }));
 * const policy = createRoundRobinPolicy();
 * const owners = [0, 1, 2, 3].map((vregion) => policy.pickOwner({ pid: 1, vregion }, memories));
 * console.assert(owners.join() === "m0,m1,m2,m0");
 * ```
 */
export function createRoundRobinPolicy(): VregionPlacementPolicy {
  let last: string | undefined;
  const next = (candidates: readonly PlacementCandidate[]) => {
    const after = last === undefined ? undefined : candidates.find((c) => c.id > last!);
    last = (after ?? candidates[0]).id;
    return last;
  };
  return {
    name: "round-robin",
    pickOwner: (_request, candidates) => next(candidates),
    pickHome: (_request, candidates) => next(candidates),
  };
}

/** The policy as the `vregion-placement` plugin named `round-robin`. */
export const roundRobinPlugin: PluginDefinition<NoPlacementOptions, VregionPlacementPolicy> =
  definePlugin({
    kind: "vregion-placement",
    name: "round-robin",
    description: "memory components in turn, in id order",
    configSchema: NoPlacementOptionsSchema,
    create: () => createRoundRobinPolicy(),
  });
