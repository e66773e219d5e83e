/**
 * CLOCK (second chance), an ExCache replacement policy written the way a user would:
 * outside the tree's plugin folders, importing only `plugin.ts`, loaded with
 * `--plugin examples/custom-policy/clock.ts`.
 *
 * Each set has a hand that sweeps its ways. A candidate whose referenced bit is set
 * (the line was used since the hand last passed) gets a second chance: its bit is
 * cleared and the hand moves on. The first candidate found with a clear bit is evicted,
 * and the hand stops just past it. Two sweeps always find one, since the first clears
 * every bit it passes.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import {
  checkGeometry,
  checkVictimCall,
  definePlugin,
  type ReplacementGeometry,
  type ReplacementPolicy,
} from "../../plugin.ts";

/**
 * A CLOCK policy for a cache of `geometry`.
 *
 * @example
 * ```ts
 * import { createClock } from "./clock.ts";
 * import { ReferencedBitArray } from "../../plugin.ts";
 * const clock = createClock({ sets: 1, ways: 3 });
 * const bits = new ReferencedBitArray({ sets: 1, ways: 3 });
 * bits.set(0, 0); // way 0 was used: it gets a second chance
 * console.assert(clock.victim(0, [0, 1, 2], () => 0, bits.of(0)) === 1);
 * ```
 */
export function createClock(geometry: ReplacementGeometry): ReplacementPolicy {
  checkGeometry(geometry);
  const { ways } = geometry;
  const hands = new Int32Array(geometry.sets);
  const candidate = new Uint8Array(ways);
  return {
    name: "clock",
    needsRecency: false, // the referenced bits are all it reads
    filled() {},
    removed() {},
    victim(set, candidates, _lastUse, referenced) {
      checkVictimCall(geometry, set, candidates);
      for (const way of candidates) candidate[way] = 1;
      try {
        for (let step = 0; step < 2 * ways; step++) {
          const way = (hands[set] + step) % ways;
          if (candidate[way] === 0) continue;
          if (referenced.test(way)) {
            referenced.clear(way); // second chance
            continue;
          }
          hands[set] = (way + 1) % ways;
          return way;
        }
        // Only reached if threads set the bits again while the hand swept twice.
        return candidates[0];
      } finally {
        for (const way of candidates) candidate[way] = 0;
      }
    },
  };
}

/** The `clock` replacement-policy plugin: the module's default export. */
const clockPlugin = definePlugin({
  kind: "replacement-policy",
  name: "clock",
  description: "CLOCK: second chance for lines whose referenced bit is set",
  configSchema: z.strictObject({}),
  create: (_options: Record<string, never>, geometry: ReplacementGeometry) => createClock(geometry),
});

export default clockPlugin;
