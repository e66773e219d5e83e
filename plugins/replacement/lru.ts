/**
 * LRU replacement: evict the line whose last access is oldest (LegoOS's `evict_lru`).
 *
 * Hits never reach the monitor, so the ExCache measures recency itself: every hit stores
 * a stamp (per thread, so threads never contend on it) and the policy reads the newest
 * stamp of each candidate through `lastUse`. Stamps order accesses exactly across misses
 * and fills; hits between two of a thread's slow-path events share a window of at most
 * 1024 hits and its stamp, as a hardware reference bit sampled per window would. Ties,
 * such as lines filled and never touched again within one fill epoch, go to the line
 * filled first.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import { definePlugin, type PluginDefinition } from "../../kernel/plugins.ts";
import type { Schema } from "../../kernel/zod_issues.ts";
import {
  checkGeometry,
  checkVictimCall,
  type ReplacementGeometry,
  type ReplacementPolicy,
} from "../../kernel/replacement.ts";

/** LRU takes no options. */
export type LruOptions = Record<string, never>;

/** Validates {@link LruOptions}. */
export const LruOptionsSchema: Schema<LruOptions> = z.strictObject({});

/**
 * An LRU policy for `geometry`.
 *
 * @example
 * ```ts
 * import { createLru } from "./lru.ts";
 * import { UNREFERENCED } from "../../kernel/replacement.ts";
 * const lru = createLru({ sets: 1, ways: 3 });
 * const lastUse = [30, 10, 20];
 * console.assert(lru.victim(0, [0, 1, 2], (way) => lastUse[way], UNREFERENCED) === 1);
 * ```
 */
export function createLru(geometry: ReplacementGeometry): ReplacementPolicy {
  checkGeometry(geometry);
  const { ways } = geometry;
  const filledAt = new Float64Array(geometry.sets * ways);
  let sequence = 0;
  return {
    name: "lru",
    needsRecency: true,
    filled(set, way) {
      filledAt[set * ways + way] = ++sequence;
    },
    removed(set, way) {
      filledAt[set * ways + way] = 0;
    },
    victim(set, candidates, lastUse) {
      checkVictimCall(geometry, set, candidates);
      let best = candidates[0];
      let bestUse = lastUse(best);
      for (let k = 1; k < candidates.length; k++) {
        const way = candidates[k];
        const use = lastUse(way);
        if (
          use < bestUse ||
          (use === bestUse && filledAt[set * ways + way] < filledAt[set * ways + best])
        ) {
          best = way;
          bestUse = use;
        }
      }
      return best;
    },
  };
}

/** The `lru` replacement-policy plugin. */
export const lruPlugin: PluginDefinition<LruOptions, ReplacementPolicy, ReplacementGeometry> =
  definePlugin({
    kind: "replacement-policy",
    name: "lru",
    description: "evict the line used longest ago",
    configSchema: LruOptionsSchema,
    create: (_options: LruOptions, geometry: ReplacementGeometry) => createLru(geometry),
  });
