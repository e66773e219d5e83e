/**
 * The processor's cache of 4 KiB lines, tagged by (pid, virtual page), with dirty bits
 * and least-recently-used replacement, all lines in one buffer.
 *
 * This is the simple, single-threaded cache of the first end-to-end cluster; the
 * set-associative ExCache in shared memory replaces it when threads move onto Workers.
 *
 * @module
 */

import { PAGE_SIZE } from "../../kernel/messages.ts";

/** A line chosen for eviction. */
export interface Victim {
  /** Owning process. */
  pid: number;
  /** Virtual page number. */
  vpn: number;
  /** Whether it must be written back. */
  dirty: boolean;
  /** Its bytes (valid until the slot is refilled). */
  bytes: Uint8Array;
}

// (pid, vpn) packs into one safe integer: vpn < 2^35 (47-bit addresses), pid < 2^17.
const VPN_BITS = 2 ** 35;
/** Largest pid the cache can tag. */
export const MAX_PID = 2 ** 17 - 1;

/**
 * A fully associative LRU line cache.
 *
 * @example
 * ```ts
 * import { LineCache } from "./line_cache.ts";
 * const cache = new LineCache(2);
 * const slot = cache.insert(1, 5);
 * console.assert(cache.lookup(1, 5) === slot);
 * ```
 */
export class LineCache {
  /** Number of lines. */
  readonly lines: number;
  /** All line bytes: slot `s` is `data[s * PAGE_SIZE, (s + 1) * PAGE_SIZE)`. */
  readonly data: Uint8Array;
  #slotOf = new Map<number, number>(); // tag -> slot, in LRU order (oldest first)
  #dirty: Uint8Array;
  #free: number[] = [];

  /** Creates a cache of `lines` lines. */
  constructor(lines: number) {
    if (!Number.isInteger(lines) || lines < 1) {
      throw new RangeError(`cache needs at least one line, got ${lines}`);
    }
    this.lines = lines;
    this.data = new Uint8Array(lines * PAGE_SIZE);
    this.#dirty = new Uint8Array(lines);
    for (let s = lines - 1; s >= 0; s--) this.#free.push(s);
  }

  /** The slot holding (pid, vpn), marking it most recently used; -1 on a miss. */
  lookup(pid: number, vpn: number): number {
    const tag = pid * VPN_BITS + vpn;
    const slot = this.#slotOf.get(tag);
    if (slot === undefined) return -1;
    this.#slotOf.delete(tag);
    this.#slotOf.set(tag, slot);
    return slot;
  }

  /** The slot's bytes. */
  line(slot: number): Uint8Array {
    return this.data.subarray(slot * PAGE_SIZE, (slot + 1) * PAGE_SIZE);
  }

  /** Marks a slot dirty. */
  markDirty(slot: number): void {
    this.#dirty[slot] = 1;
  }

  /**
   * Frees a slot when none is free by removing the least recently used line, and
   * returns it (its bytes copied when dirty, since the slot will be reused). Returns
   * undefined when a slot was already free.
   */
  evictOldest(): Victim | undefined {
    if (this.#free.length > 0) return undefined;
    const [tag, slot] = this.#slotOf.entries().next().value!;
    const victim = this.#describe(tag, slot);
    if (victim.dirty) victim.bytes = victim.bytes.slice();
    this.#slotOf.delete(tag);
    this.#free.push(slot);
    return victim;
  }

  /** Gives (pid, vpn) a free slot (call {@link evictOldest} first when full). */
  insert(pid: number, vpn: number): number {
    const slot = this.#free.pop();
    if (slot === undefined) throw new Error("line cache is full: evict first");
    const tag = pid * VPN_BITS + vpn;
    this.#slotOf.set(tag, slot);
    this.#dirty[slot] = 0;
    return slot;
  }

  /** Removes every line of `pid` in pages `[fromVpn, toVpn)`, returning them (dirty or not). */
  drop(pid: number, fromVpn = 0, toVpn = VPN_BITS): Victim[] {
    const dropped: Victim[] = [];
    for (const [tag, slot] of this.#slotOf) {
      const vpn = tag % VPN_BITS;
      if ((tag - vpn) / VPN_BITS !== pid || vpn < fromVpn || vpn >= toVpn) continue;
      dropped.push(this.#describe(tag, slot));
      this.#slotOf.delete(tag);
      this.#free.push(slot);
    }
    return dropped;
  }

  /** Lines currently held. */
  get used(): number {
    return this.#slotOf.size;
  }

  #describe(tag: number, slot: number): Victim {
    const vpn = tag % VPN_BITS;
    return {
      pid: (tag - vpn) / VPN_BITS,
      vpn,
      dirty: this.#dirty[slot] === 1,
      bytes: this.line(slot),
    };
  }
}
