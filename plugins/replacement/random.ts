/**
 * Random replacement: evict a candidate chosen uniformly at random by a seeded generator,
 * so that a run can be repeated exactly (LegoOS's `evict_random`).
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
import { mulberry32 } from "../../kernel/prng.ts";

export { mulberry32 };

/** Options of the random policy. */
export interface RandomOptions {
  /** Seed of the generator (a 32-bit unsigned integer; default 1). */
  seed: number;
}

/** Validates {@link RandomOptions}, filling defaults. */
export const RandomOptionsSchema: Schema<RandomOptions> = z.strictObject({
  seed: z.number().int().min(0).max(0xffffffff).default(1),
});

/**
 * A random policy for `geometry`; `prng` defaults to {@link mulberry32} seeded with
 * `options.seed`.
 *
 * @example
 * ```ts
 * import { createRandom } from "./random.ts";
 * import { UNREFERENCED } from "../../kernel/replacement.ts";
 * const policy = createRandom({ sets: 1, ways: 4 }, { seed: 42 });
 * console.assert([0, 1, 2, 3].includes(policy.victim(0, [0, 1, 2, 3], () => 0, UNREFERENCED)));
 * ```
 */
export function createRandom(
  geometry: ReplacementGeometry,
  options: RandomOptions = { seed: 1 },
  prng: () => number = mulberry32(options.seed),
): ReplacementPolicy {
  checkGeometry(geometry);
  return {
    name: "random",
    needsRecency: false,
    filled() {},
    removed() {},
    victim(set, candidates) {
      checkVictimCall(geometry, set, candidates);
      return candidates[Math.min(candidates.length - 1, Math.floor(prng() * candidates.length))];
    },
  };
}

/** The `random` replacement-policy plugin. */
export const randomPlugin: PluginDefinition<
  RandomOptions,
  ReplacementPolicy,
  ReplacementGeometry
> = definePlugin({
  kind: "replacement-policy",
  name: "random",
  description: "evict a line chosen by a seeded random generator",
  configSchema: RandomOptionsSchema,
  create: (options: RandomOptions, geometry: ReplacementGeometry) =>
    createRandom(geometry, options),
});
