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
 * `lastUse(way)` reading. Like hardware, the cache also keeps a *referenced bit* per way,
 * set by accesses and handed to `victim` as {@link ReferencedBits}, which the policy may
 * read and clear (CLOCK, second chance, NRU). The bit is set when a line is filled and
 * whenever a thread starts or stops using it (pins or unpins it: every access that is
 * not a hit on a line the thread already holds), so it costs nothing on a hit; a line a
 * thread keeps hitting is held by that thread and offered to the policy only when every
 * way of its set is held.
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
 * console.assert(last.victim(0, [1, 3], () => 0, UNREFERENCED) === 3);
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

/**
 * The referenced bits of one set's ways, as `victim` sees them: whether each way's line
 * was accessed since its bit was last cleared, and a way to clear it.
 *
 * @example
 * ```ts
 * import type { ReferencedBits } from "./replacement.ts";
 * const bits = [1, 0, 1];
 * const view: ReferencedBits = {
 *   test: (way) => bits[way] === 1,
 *   clear: (way) => void (bits[way] = 0),
 * };
 * view.clear(0);
 * console.assert(!view.test(0) && view.test(2));
 * ```
 */
export interface ReferencedBits {
  /** Whether way `way`'s line was accessed (or filled) since its bit was last cleared. */
  test(way: number): boolean;
  /** Clears way `way`'s bit; the line's next access sets it again. */
  clear(way: number): void;
}

/**
 * Referenced bits that are never set, for driving a policy by hand when accesses do not
 * matter (clearing them does nothing).
 *
 * @example
 * ```ts
 * import { UNREFERENCED } from "./replacement.ts";
 * console.assert(!UNREFERENCED.test(0));
 * ```
 */
export const UNREFERENCED: ReferencedBits = Object.freeze({
  test: (_way: number) => false,
  clear: (_way: number) => {},
});

/**
 * Referenced bits kept in a plain array, for tests and for driving a policy by hand:
 * `set(s, w)` stands for an access.
 *
 * @example
 * ```ts
 * import { ReferencedBitArray } from "./replacement.ts";
 * const bits = new ReferencedBitArray({ sets: 2, ways: 4 });
 * bits.set(1, 3);
 * console.assert(bits.of(1).test(3) && !bits.of(0).test(3));
 * bits.of(1).clear(3);
 * console.assert(!bits.of(1).test(3));
 * ```
 */
export class ReferencedBitArray {
  readonly #ways: number;
  readonly #bits: Uint8Array;

  /** All bits clear, for `geometry`. */
  constructor(geometry: ReplacementGeometry) {
    checkGeometry(geometry);
    this.#ways = geometry.ways;
    this.#bits = new Uint8Array(geometry.sets * geometry.ways);
  }

  /** Sets way `way` of set `set`'s bit (an access). */
  set(set: number, way: number): void {
    this.#bits[set * this.#ways + way] = 1;
  }

  /** The bits of set `set`, as `victim` takes them. */
  of(set: number): ReferencedBits {
    const base = set * this.#ways;
    const bits = this.#bits;
    return {
      test: (way) => bits[base + way] === 1,
      clear: (way) => void (bits[base + way] = 0),
    };
  }
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
   * more recent; only meaningful when `needsRecency` is set. `referenced` holds the set's
   * referenced bits, which the policy may read and clear.
   */
  victim(
    set: number,
    candidates: readonly number[],
    lastUse: (way: number) => number,
    referenced: ReferencedBits,
  ): number;
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
