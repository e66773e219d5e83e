/**
 * Swap readahead as Linux 4.9 sizes it: by swap offset (not by virtual address: the
 * VMA-based readahead came with 4.14), in an aligned cluster of up to `2^page-cluster`
 * slots (8 by default), and narrowed by how many readahead pages were used (source L2 in
 * `SOURCES.md`: the hit-rate detector added in 3.14).
 *
 * The window for a fault at swap offset `o`:
 * - `pages` = readahead hits since the last fault + 2; with no hits, 1 unless `o` is next
 *   to the previous fault's offset (then 2); with hits, rounded up to a power of two ≥ 4;
 * - capped at the maximum, and never below half the previous window (so it does not
 *   collapse at once);
 * - the slots read are `o` rounded down and up to a multiple of `pages`; slot 0 (the swap
 *   header) is never read.
 *
 * LegoOS has no readahead: its ExCache fetches one line per miss.
 *
 * @example
 * ```ts
 * import { SwapReadahead } from "./swap_readahead.ts";
 * const ra = new SwapReadahead(8);
 * console.assert(ra.window(100).pages === 1); // nothing to judge by, not adjacent
 * console.assert(ra.window(101).pages === 2); // adjacent to the last fault
 * ra.hit();
 * ra.hit();
 * const w = ra.window(200); // two hits: 2 + 2 = 4 pages, aligned
 * console.assert(w.pages === 4 && w.first === 200 && w.last === 203);
 * ```
 *
 * @module
 */

/** The slots one fault reads: `first..last` (inclusive), `pages` wide before clipping. */
export interface ReadaheadWindow {
  /** Window size chosen (a power of two, 1 = no readahead). */
  pages: number;
  /** First slot read. */
  first: number;
  /** Last slot read. */
  last: number;
}

/** The readahead state of one swap device. */
export class SwapReadahead {
  readonly #maxPages: number;
  #hits = 0;
  #previousOffset = 0;
  #lastPages = 0;

  /** `maxPages` is `2^page-cluster` (Linux default page-cluster 3: 8 pages). */
  constructor(maxPages = 8) {
    if (!Number.isInteger(maxPages) || maxPages < 1 || (maxPages & (maxPages - 1)) !== 0) {
      throw new RangeError(`readahead maxPages must be a power of two >= 1, got ${maxPages}`);
    }
    this.#maxPages = maxPages;
  }

  /** A fault found a page that readahead had brought in (a swap-cache hit). */
  hit(): void {
    this.#hits++;
  }

  /** The window to read for a fault at swap slot `offset` (updates the state). */
  window(offset: number): ReadaheadWindow {
    const pages = this.#nrPages(offset);
    if (pages <= 1) return { pages: 1, first: offset, last: offset };
    const mask = pages - 1;
    let first = offset & ~mask;
    const last = offset | mask;
    if (first === 0) first = 1; // slot 0 is the swap header
    return { pages, first, last };
  }

  #nrPages(offset: number): number {
    const max = this.#maxPages;
    if (max <= 1) return 1;
    let pages = this.#hits + 2;
    this.#hits = 0;
    if (pages === 2) {
      // No hits to judge by: read two only when this fault is next to the last one.
      if (offset !== this.#previousOffset + 1 && offset !== this.#previousOffset - 1) pages = 1;
      this.#previousOffset = offset;
    } else {
      let roundUp = 4;
      while (roundUp < pages) roundUp <<= 1;
      pages = roundUp;
    }
    if (pages > max) pages = max;
    const floor = this.#lastPages >> 1; // do not shrink too fast
    if (pages < floor) pages = floor;
    this.#lastPages = pages;
    return pages;
  }
}
