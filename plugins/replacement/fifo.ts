/**
 * FIFO replacement: evict the line that was filled longest ago, however often it was
 * used since (LegoOS's `evict_fifo`).
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

/** FIFO takes no options. */
export type FifoOptions = Record<string, never>;

/** Validates {@link FifoOptions}. */
export const FifoOptionsSchema: Schema<FifoOptions> = z.strictObject({});

/**
 * A FIFO policy for `geometry`.
 *
 * @example
 * ```ts
 * import { createFifo } from "./fifo.ts";
 * import { UNREFERENCED } from "../../kernel/replacement.ts";
 * const fifo = createFifo({ sets: 1, ways: 3 });
 * fifo.filled(0, 2);
 * fifo.filled(0, 0);
 * fifo.filled(0, 1);
 * console.assert(fifo.victim(0, [0, 1, 2], () => 0, UNREFERENCED) === 2);
 * ```
 */
export function createFifo(geometry: ReplacementGeometry): ReplacementPolicy {
  checkGeometry(geometry);
  const { ways } = geometry;
  // Fill sequence number of each line; a smaller number was filled earlier.
  const filledAt = new Float64Array(geometry.sets * ways);
  let sequence = 0;
  return {
    name: "fifo",
    needsRecency: false,
    filled(set, way) {
      filledAt[set * ways + way] = ++sequence;
    },
    removed(set, way) {
      filledAt[set * ways + way] = 0;
    },
    victim(set, candidates) {
      checkVictimCall(geometry, set, candidates);
      let best = candidates[0];
      for (const way of candidates) {
        if (filledAt[set * ways + way] < filledAt[set * ways + best]) best = way;
      }
      return best;
    },
  };
}

/** The `fifo` replacement-policy plugin. */
export const fifoPlugin: PluginDefinition<FifoOptions, ReplacementPolicy, ReplacementGeometry> =
  definePlugin({
    kind: "replacement-policy",
    name: "fifo",
    description: "evict the line filled longest ago",
    configSchema: FifoOptionsSchema,
    create: (_options: FifoOptions, geometry: ReplacementGeometry) => createFifo(geometry),
  });
