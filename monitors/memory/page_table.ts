/**
 * The page table of a memory component (the MMU LegoOS moved off the processor): one
 * hashed table mapping `(pid, virtual page number)` to where the page is — a DRAM frame
 * or a swap slot.
 *
 * Why hashed (as the LegoOS paper describes) and not radix (as LegoOS's code): the owner
 * holds pages of many processes scattered over a 47-bit address space, but only as many
 * as its DRAM pool and swap hold. A hashed table costs memory in proportion to those
 * pages and one probe per lookup however sparse the address space is, and it fits in
 * three flat typed arrays (no node objects, no per-process tree), which keeps the fetch
 * and flush handlers allocation-free. A radix tree would cost a node chain per touched
 * region and several dependent lookups per access.
 *
 * Open addressing with linear probing and backward-shift deletion (no tombstones); the
 * table doubles when it is 60% full.
 *
 * @module
 */

/** What {@link PageTable.get} returns for a page with no entry. */
export const NO_PAGE = 0x7fffffff;

/**
 * Encodes swap slot `slot` as a page-table value (frames are `>= 0`, slots `< 0`).
 *
 * @example
 * ```ts
 * import { slotOf, swapValue } from "./page_table.ts";
 * console.assert(swapValue(0) === -1 && slotOf(swapValue(41)) === 41);
 * ```
 */
export function swapValue(slot: number): number {
  return -slot - 1;
}

/**
 * The swap slot a negative page-table value stands for.
 *
 * @example
 * ```ts
 * import { slotOf } from "./page_table.ts";
 * console.assert(slotOf(-3) === 2);
 * ```
 */
export function slotOf(value: number): number {
  return -value - 1;
}

const TWO_32 = 4294967296;

/** Mixes a key into a 32-bit hash (pid and both halves of the vpn). */
function hash(pid: number, vpn: number): number {
  let h = Math.imul(pid, 0x9e3779b1) ^ Math.imul(vpn >>> 0, 0x85ebca77) ^
    Math.imul(Math.floor(vpn / TWO_32), 0xc2b2ae3d);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}

/**
 * A hashed page table keyed by `(pid, vpn)`; `pid` must be at least 1.
 *
 * @example
 * ```ts
 * import { NO_PAGE, PageTable } from "./page_table.ts";
 * const table = new PageTable(16);
 * table.set(1, 0x7f000, 3);
 * console.assert(table.get(1, 0x7f000) === 3 && table.get(2, 0x7f000) === NO_PAGE);
 * console.assert(table.delete(1, 0x7f000) === 3 && table.size === 0);
 * ```
 */
export class PageTable {
  #pids: Uint32Array;
  #vpns: Float64Array;
  #values: Int32Array;
  #mask: number;
  #size = 0;

  /** A table sized for about `expected` entries before it first grows. */
  constructor(expected: number) {
    let capacity = 16;
    while (capacity * 0.6 < expected) capacity *= 2;
    this.#pids = new Uint32Array(capacity);
    this.#vpns = new Float64Array(capacity);
    this.#values = new Int32Array(capacity);
    this.#mask = capacity - 1;
  }

  /** Entries held. */
  get size(): number {
    return this.#size;
  }

  /** Slots allocated (a power of two). */
  get capacity(): number {
    return this.#mask + 1;
  }

  /** The value for `(pid, vpn)`: a frame (`>= 0`), a swap value (`< 0`) or {@link NO_PAGE}. */
  get(pid: number, vpn: number): number {
    const pids = this.#pids;
    const mask = this.#mask;
    for (let i = hash(pid, vpn) & mask;; i = (i + 1) & mask) {
      const p = pids[i];
      if (p === 0) return NO_PAGE;
      if (p === pid && this.#vpns[i] === vpn) return this.#values[i];
    }
  }

  /** Sets the value for `(pid, vpn)`, adding the entry if needed. */
  set(pid: number, vpn: number, value: number): void {
    const mask = this.#mask;
    for (let i = hash(pid, vpn) & mask;; i = (i + 1) & mask) {
      const p = this.#pids[i];
      if (p === 0) {
        this.#pids[i] = pid;
        this.#vpns[i] = vpn;
        this.#values[i] = value;
        if (++this.#size > (mask + 1) * 0.6) this.#grow();
        return;
      }
      if (p === pid && this.#vpns[i] === vpn) {
        this.#values[i] = value;
        return;
      }
    }
  }

  /** Removes `(pid, vpn)`; returns its value, or {@link NO_PAGE} if it had none. */
  delete(pid: number, vpn: number): number {
    const pids = this.#pids;
    const vpns = this.#vpns;
    const values = this.#values;
    const mask = this.#mask;
    let i = hash(pid, vpn) & mask;
    for (;; i = (i + 1) & mask) {
      const p = pids[i];
      if (p === 0) return NO_PAGE;
      if (p === pid && vpns[i] === vpn) break;
    }
    const value = values[i];
    // Backward-shift: move later entries of the probe run into the hole when allowed.
    let hole = i;
    for (let j = (i + 1) & mask; pids[j] !== 0; j = (j + 1) & mask) {
      const home = hash(pids[j], vpns[j]) & mask;
      // Entry j may fill the hole only if its home slot is not in (hole, j] cyclically.
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!between) {
        pids[hole] = pids[j];
        vpns[hole] = vpns[j];
        values[hole] = values[j];
        hole = j;
      }
    }
    pids[hole] = 0;
    this.#size--;
    return value;
  }

  /**
   * Calls `visit(vpn, value)` for every entry of `pid` (the table must not be changed
   * during the walk; collect first, then change).
   */
  forEachOf(pid: number, visit: (vpn: number, value: number) => void): void {
    const pids = this.#pids;
    for (let i = 0; i <= this.#mask; i++) {
      if (pids[i] === pid) visit(this.#vpns[i], this.#values[i]);
    }
  }

  #grow(): void {
    const pids = this.#pids;
    const vpns = this.#vpns;
    const values = this.#values;
    const capacity = (this.#mask + 1) * 2;
    this.#pids = new Uint32Array(capacity);
    this.#vpns = new Float64Array(capacity);
    this.#values = new Int32Array(capacity);
    this.#mask = capacity - 1;
    this.#size = 0;
    for (let i = 0; i < pids.length; i++) {
      if (pids[i] !== 0) this.set(pids[i], vpns[i], values[i]);
    }
  }
}
