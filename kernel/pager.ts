/**
 * The pager contract: how a processor's memory traffic costs model time when the processor
 * is not a LegoOS pComponent but a monolithic machine paging to a device — the baselines
 * the LegoOS paper compares against (Linux swapping to an SSD, a ramdisk, or remote memory
 * through InfiniSwap).
 *
 * Such a machine is a configuration of the same emulator: its local DRAM is the processor's
 * cache (sized like the ExCache it is compared with, with a Linux-like replacement policy),
 * and the memory component only stores the swapped-out pages. What changes is the price:
 * a processor configured with a pager charges each call it makes on a thread's behalf
 * with {@link Pager.callNs} instead of a network round trip. Page fetches and write-backs
 * become major or minor faults on the swap device (with readahead), every other call
 * (mmap, brk, files) is a system call on the same machine.
 *
 * A pager is a `"pager"` plugin; the processor creates one per cache with
 * {@link PagerContext}. It keeps state (swap slots, readahead window), so one instance
 * serves one machine.
 *
 * @example
 * ```ts
 * import type { Pager } from "./pager.ts";
 * const flat: Pager = {
 *   name: "flat",
 *   callNs: (call) => (call.fetchVaddr !== undefined ? 10_000 : 100),
 *   stats: () => ({}),
 *   describe: () => ({}),
 * };
 * console.assert(flat.callNs({ kind: "P2M_PAGE_FETCH", pid: 1, fetchVaddr: 0, requestBytes: 16, replyBytes: 4096, nowNs: 0 }) === 10_000);
 * ```
 *
 * @module
 */

import type { LatencyConstant, LatencyModel } from "./latency.ts";

/** What a pager is created with. */
export interface PagerContext {
  /** Lines (pages) of local memory: the processor's cache. */
  readonly lines: number;
  /** The cluster's latency model (device and DRAM costs). */
  readonly latency: LatencyModel;
}

/** One call the processor makes on a thread's behalf. */
export interface PagerCall {
  /** The message kind (`P2M_PAGE_FETCH`, `P2M_PAGE_FLUSH`, `P2M_PAGE_FLUSH_FETCH`, ...). */
  readonly kind: string;
  /** The process. */
  readonly pid: number;
  /** For a fetch: the page-aligned address brought in. */
  readonly fetchVaddr?: number;
  /** For a write-back: the page-aligned address written out. */
  readonly flushVaddr?: number;
  /** Bytes of the request body. */
  readonly requestBytes: number;
  /** Bytes of the reply body. */
  readonly replyBytes: number;
  /** The calling thread's model time when it made the call [ns]. */
  readonly nowNs: number;
}

/** A page of a process: its pid and page-aligned address. */
export interface PageRef {
  /** The process. */
  readonly pid: number;
  /** The page-aligned virtual address. */
  readonly vaddr: number;
}

/**
 * Something that happens to a page of a monolithic machine without a message, which the
 * processor reports to its pager:
 * - `first-touch`: an anonymous page never written out was zero-filled (Linux: a minor
 *   fault through `do_anonymous_page`);
 * - `evict`: reclaim took the page out of memory; a `dirty` one is then written out with a
 *   `P2M_PAGE_FLUSH` call, a clean one is dropped;
 * - `swap-cache-hit`: the first touch of a page the pager read ahead (a minor fault).
 */
export interface PageEvent extends PageRef {
  /** What happened. */
  readonly kind: "first-touch" | "evict" | "swap-cache-hit";
  /** For `evict`: whether the page was dirty. */
  readonly dirty?: boolean;
  /** The model time of the thread it happened to [ns]. */
  readonly nowNs: number;
}

/** Prices a monolithic machine's paging and system calls. */
export interface Pager {
  /** The plugin name, shown in reports. */
  readonly name: string;
  /** Model time the calling thread spends on `call` [ns]; also updates the pager's state. */
  callNs(call: PagerCall): number;
  /**
   * Model time the thread spends on `event` [ns] (the fault path's or reclaim's software),
   * also updating the pager's state. Optional: without it, these events cost what they
   * cost on a LegoOS processor.
   */
  pageEventNs?(event: PageEvent): number;
  /**
   * The pages the last fault read ahead, which the processor then brings into memory (each
   * occupying a line, evicting like any page) without touching them: the fetch call of
   * each costs nothing more (the fault's device read paid for it). Returns each page once.
   */
  takeReadahead?(): PageRef[];
  /** Counters (major and minor faults, readahead pages and hits, swap-outs, ...). */
  stats(): Record<string, number>;
  /** Every constant the pager charges, with unit and source. */
  describe(): Record<string, LatencyConstant>;
}
