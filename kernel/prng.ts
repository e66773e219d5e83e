/**
 * A small seeded pseudo-random generator, shared by every policy that needs randomness
 * (placement, replacement) so that one seed replays a run.
 *
 * @module
 */

/**
 * Mulberry32: a fast 32-bit generator, plenty for choosing among components or cache ways. Returns a
 * function yielding numbers in [0, 1); the same seed gives the same sequence.
 *
 * @example
 * ```ts
 * import { mulberry32 } from "./prng.ts";
 * const a = mulberry32(7);
 * const b = mulberry32(7);
 * console.assert(a() === b() && a() < 1);
 * ```
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
