/**
 * The replacement-policy contract: which line of a full ExCache set to evict.
 *
 * A policy is a `"replacement-policy"` plugin. The processor creates one instance per
 * ExCache, handing it the cache's geometry; the cache tells it when a way is filled or
 * emptied and asks it for a victim when a set is full. The cache fills free ways first,
 * so the policy is only asked about full sets, and it passes only the ways that may be
 * evicted right now (not being filled, not pinned by a thread that is using them).
 *
 * Recency is measured by the cache, not the policy: hits are served by threads with no
 * message, so the cache keeps per-line access stamps (only when a policy sets
 * `needsRecency`, since stamping costs a store per hit) and hands the policy a
 * `lastUse(way)` reading.
 *
 * @example
 * ```ts
 * import type { ReplacementPolicy } from "./replacement.ts";
 * // Always evicts the highest-numbered candidate: a (bad) policy in six lines.
 * const last: ReplacementPolicy = {
 *   name: "last",
 *   needsRecency: false,
 *   filled() {},
 *   removed() {},
 *   victim: (_set, candidates) => candidates[candidates.length - 1],
 * };
 * console.assert(last.victim(0, [1, 3], () => 0) === 3);
 * ```
 *
 * @module
 */

import { KernelError } from "./errors.ts";

/** What a policy instance is created for. */
export interface ReplacementGeometry {
  /** Number of sets. */
  readonly sets: number;
  /** Lines (ways) per set. */
  readonly ways: number;
}

/** Decides which way of a full set to evict. */
export interface ReplacementPolicy {
  /** The plugin name. */
  readonly name: string;
  /** Whether {@link ReplacementPolicy.victim} reads `lastUse` (the cache then stamps hits). */
  readonly needsRecency: boolean;
  /** Way `way` of set `set` was just filled with a new line. */
  filled(set: number, way: number): void;
  /** Way `way` of set `set` was emptied (evicted, unmapped or its process ended). */
  removed(set: number, way: number): void;
  /**
   * The way of set `set` to evict, chosen from `candidates` (ways, never empty, in
   * increasing order). `lastUse(way)` is when that way's line was last touched: larger is
   * more recent; only meaningful when `needsRecency` is set.
   */
  victim(set: number, candidates: readonly number[], lastUse: (way: number) => number): number;
}

/**
 * Checks a geometry handed to a policy's `create`.
 *
 * @example
 * ```ts
 * import { checkGeometry } from "./replacement.ts";
 * checkGeometry({ sets: 4, ways: 64 });
 * ```
 */
export function checkGeometry(geometry: ReplacementGeometry): void {
  const { sets, ways } = geometry ?? {};
  if (!Number.isSafeInteger(sets) || sets < 1 || !Number.isSafeInteger(ways) || ways < 1) {
    throw new KernelError(
      "EINVAL",
      `a replacement policy needs a geometry of whole sets >= 1 and ways >= 1, got ${
        JSON.stringify(geometry)
      }`,
    );
  }
}

/**
 * Checks the arguments of a `victim` call; every stock policy calls it first.
 *
 * @example
 * ```ts
 * import { checkVictimCall } from "./replacement.ts";
 * checkVictimCall({ sets: 1, ways: 4 }, 0, [0, 2]);
 * ```
 */
export function checkVictimCall(
  geometry: ReplacementGeometry,
  set: number,
  candidates: readonly number[],
): void {
  if (!Number.isInteger(set) || set < 0 || set >= geometry.sets) {
    throw new KernelError("EINVAL", `set ${set} is outside 0..${geometry.sets - 1}`);
  }
  if (!Array.isArray(candidates) || candidates.length === 0) {
    throw new KernelError("EINVAL", `victim() needs at least one candidate way in set ${set}`);
  }
  for (const way of candidates) {
    if (!Number.isInteger(way) || way < 0 || way >= geometry.ways) {
      throw new KernelError("EINVAL", `candidate way ${way} is outside 0..${geometry.ways - 1}`);
    }
  }
}
