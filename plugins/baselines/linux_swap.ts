/**
 * `linux-swap`: a monolithic Linux 4.9 machine whose local DRAM (the processor's cache,
 * with the `linux-reclaim` reclaim policy) is backed by a swap device — the baselines of the
 * LegoOS paper. A `"pager"` plugin: the processor prices every call through it.
 *
 * - **Major fault** (a page that was swapped out and is not in memory): one read of the
 *   readahead window around the page's swap slot from the device (`swap_readahead.ts`),
 *   counting only the window's pages not in memory already. The window's other pages are
 *   handed to the processor ({@link Pager.takeReadahead}), which brings each into a line of
 *   memory, untouched and unmapped, where it is reclaimed like any page.
 * - **Minor fault**: the first touch of a page read ahead (a swap-cache hit), or of an
 *   anonymous page never swapped out, which the fault zero-fills (`do_anonymous_page`):
 *   the fault path's software cost alone.
 * - **Reclaim** of a page: the reclaim path's software cost per page, charged to the
 *   thread that needed the room (direct reclaim). A clean page whose swap copy is still
 *   valid (it was swapped in and not written since) is dropped with no I/O, as Linux
 *   drops it; a dirty one is then swapped out.
 * - **Swap-out** of a dirty page: a new swap slot, allocated in order (as the kernel's
 *   cluster allocator hands them out), and the page write; by default the faulting thread
 *   waits for it (`writeBack: "sync"`: under sustained pressure, direct reclaim cannot
 *   free the page before its write-back ends); with `"async"` the write overlaps.
 *   A page written after it was swapped in loses its old slot (Linux frees it at the write
 *   fault, `reuse_swap_page`); a clean page dropped from memory keeps it and is read back
 *   from there.
 * - Every other call (mmap, brk, files, process start and exit) is a system call on the
 *   same machine: a memory copy of its payload (the latency model's loopback cost).
 *
 * @example
 * ```ts
 * import { createLinuxSwapPager } from "./linux_swap.ts";
 * import type { LatencyModel } from "../../kernel/latency.ts";
 * const latency = {
 *   name: "t",
 *   deviceNs: (_d: string, _o: string, bytes: number) => 1000 * bytes / 4096,
 *   messageNs: () => 100,
 * } as unknown as LatencyModel;
 * const pager = createLinuxSwapPager({ device: "ssd" }, { lines: 64, latency });
 * const call = (kind: string, vaddr: number) => ({ kind, pid: 1, requestBytes: 0, replyBytes: 0, nowNs: 0, fetchVaddr: vaddr, flushVaddr: vaddr });
 * pager.callNs(call("P2M_PAGE_FLUSH", 0)); // swapped out to slot 1
 * console.assert(pager.callNs(call("P2M_PAGE_FETCH", 0)) === 1000); // a major fault: one page
 * ```
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import { KernelError } from "../../kernel/errors.ts";
import type { LatencyConstant } from "../../kernel/latency.ts";
import type { PageEvent, Pager, PagerCall, PagerContext, PageRef } from "../../kernel/pager.ts";
import { definePlugin, type PluginDefinition } from "../../kernel/plugins.ts";
import type { Schema } from "../../kernel/zod_issues.ts";
import {
  defaultInfiniswap,
  INFINISWAP_CONSTANTS,
  SWAP_DEVICES,
  swapDevice,
  type SwapDeviceName,
} from "./swap_devices.ts";
import { SwapReadahead } from "./swap_readahead.ts";

const PAGE = 4096;
const VLINES = 2 ** 35; // lines of a 47-bit address space

/**
 * The fault path's software cost when no I/O is needed: the first touch of an anonymous
 * page (the default of `minorFaultNs`), also taken for a swap-cache hit (which does not
 * zero the page, so it is an upper bound there).
 */
export const MINOR_FAULT: LatencyConstant = {
  value: 1e9 / 1_040e3,
  unit: "ns",
  source: "A2 derived: 1e9 / 1040 KIOPS (Linux first-touch faults, 1 thread, Fig. 8); " +
    "for a swap-cache hit an upper bound (UNCONFIRMED: no zeroing there)",
};

/**
 * Reclaim's software cost per page taken out of memory (the default of `reclaimPageNs`):
 * isolating it from the LRU, checking its references, unmapping it, and adding it to or
 * deleting it from the swap cache. No published figure gives it directly; the proxy is the
 * software share of the swap-in path of the same kernel objects.
 */
export const RECLAIM_PAGE: LatencyConstant = {
  value: 0.7 * 1_840,
  unit: "ns",
  source: "L1 derived: > 70% of 1.84 us (zram swap-in through the swap cache) is software; " +
    "UNCONFIRMED as reclaim's own per-page cost",
};

/** Options of `linux-swap`. */
export interface LinuxSwapOptions {
  /** The swap device (default `ssd`). */
  device: SwapDeviceName;
  /** `log2` of the most pages one swap-in reads (Linux `vm.page-cluster`, default 3 = 8). */
  pageCluster: number;
  /** Whether the faulting thread waits for a dirty page's write-back (default `sync`). */
  writeBack: "sync" | "async";
  /** The fault path's software cost without I/O [ns] (A2 derived). */
  minorFaultNs: number;
  /** Reclaim's software cost per page taken out of memory [ns] (L1 derived, UNCONFIRMED). */
  reclaimPageNs: number;
  /** InfiniSwap page-in [ns]. */
  infiniswapPageInNs: number;
  /** InfiniSwap further readahead page [ns]. */
  infiniswapExtraPageNs: number;
  /** InfiniSwap page-out [ns]. */
  infiniswapPageOutNs: number;
}

/** Validates {@link LinuxSwapOptions}. */
export const LinuxSwapOptionsSchema: Schema<LinuxSwapOptions> = z.strictObject({
  device: z.enum(SWAP_DEVICES).default("ssd"),
  pageCluster: z.number().int().min(0).max(6).default(3).describe(
    "log2 of the swap readahead window's maximum (L2: vm.page-cluster, default 3)",
  ),
  writeBack: z.enum(["sync", "async"]).default("sync"),
  minorFaultNs: z.number().nonnegative().default(MINOR_FAULT.value).describe(
    `fault path without I/O [ns] (${MINOR_FAULT.source})`,
  ),
  reclaimPageNs: z.number().nonnegative().default(RECLAIM_PAGE.value).describe(
    `reclaim's software per page [ns] (${RECLAIM_PAGE.source})`,
  ),
  infiniswapPageInNs: z.number().positive().default(
    INFINISWAP_CONSTANTS.infiniswapPageInNs.value,
  ),
  infiniswapExtraPageNs: z.number().nonnegative().default(
    INFINISWAP_CONSTANTS.infiniswapExtraPageNs.value,
  ),
  infiniswapPageOutNs: z.number().positive().default(
    INFINISWAP_CONSTANTS.infiniswapPageOutNs.value,
  ),
});

/**
 * A `linux-swap` pager over `context` with `options` (missing options take defaults).
 */
export function createLinuxSwapPager(
  options: Partial<LinuxSwapOptions>,
  context: PagerContext,
): Pager {
  const parsed = LinuxSwapOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KernelError(
      "EINVAL",
      `linux-swap option ${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
  }
  const o = parsed.data;
  const device = swapDevice(o.device, context.latency, {
    ...defaultInfiniswap(),
    infiniswapPageInNs: o.infiniswapPageInNs,
    infiniswapExtraPageNs: o.infiniswapExtraPageNs,
    infiniswapPageOutNs: o.infiniswapPageOutNs,
  });
  const readahead = new SwapReadahead(1 << o.pageCluster);
  const slotOf = new Map<number, number>(); // page key → swap slot
  const pageAt = new Map<number, number>(); // swap slot → page key
  const resident = new Set<number>(); // pages in memory, as the processor reports them
  let readAhead: number[] = []; // pages the last fault read, not yet handed over
  const installing = new Set<number>(); // handed over: their fetch is already paid for
  let nextSlot = 1; // slot 0 is the swap header
  const stats = {
    majorFaults: 0,
    minorFaults: 0,
    zeroFills: 0,
    readaheadPages: 0,
    readaheadHits: 0,
    swapOuts: 0,
    pagesRead: 0,
    reclaimed: 0,
    cleanDrops: 0,
    syscalls: 0,
  };
  const keyOf = (pid: number, vaddr: number) => pid * VLINES + Math.floor(vaddr / PAGE);
  const refOf = (key: number): PageRef => ({
    pid: Math.floor(key / VLINES),
    vaddr: (key % VLINES) * PAGE,
  });

  const fault = (pid: number, vaddr: number): number => {
    const key = keyOf(pid, vaddr);
    if (installing.delete(key)) {
      resident.add(key); // a page read ahead, brought in: the fault's read paid for it
      return 0;
    }
    resident.add(key);
    const slot = slotOf.get(key);
    if (slot === undefined) {
      stats.zeroFills++;
      stats.minorFaults++;
      return o.minorFaultNs;
    }
    installing.clear(); // pages of an earlier window the processor did not take
    const window = readahead.window(slot);
    let pages = 0;
    for (let s = window.first; s <= window.last; s++) {
      const page = pageAt.get(s);
      if (page === undefined) continue; // a free slot: nothing to read
      if (page !== key && resident.has(page)) continue; // in memory already: no I/O
      pages++;
      if (page === key) continue;
      readAhead.push(page);
      stats.readaheadPages++;
    }
    stats.majorFaults++;
    stats.pagesRead += pages;
    return device.readNs(Math.max(1, pages));
  };

  const swapOut = (pid: number, vaddr: number): number => {
    const key = keyOf(pid, vaddr);
    const old = slotOf.get(key);
    if (old !== undefined) pageAt.delete(old); // its copy there is stale now
    slotOf.set(key, nextSlot);
    pageAt.set(nextSlot, key);
    nextSlot++;
    resident.delete(key);
    stats.swapOuts++;
    return o.writeBack === "sync" ? device.writeNs() : 0;
  };

  const pageEventNs = (event: PageEvent): number => {
    const key = keyOf(event.pid, event.vaddr);
    switch (event.kind) {
      case "first-touch":
        resident.add(key);
        stats.zeroFills++;
        stats.minorFaults++;
        return o.minorFaultNs;
      case "swap-cache-hit":
        readahead.hit();
        stats.readaheadHits++;
        stats.minorFaults++;
        return o.minorFaultNs;
      case "evict":
        resident.delete(key);
        stats.reclaimed++;
        // A clean page with a valid swap copy is dropped without I/O; a dirty one's
        // swap-out follows as a flush call.
        if (!event.dirty && slotOf.has(key)) stats.cleanDrops++;
        return o.reclaimPageNs;
    }
  };

  return {
    name: `linux-swap/${o.device}`,
    callNs(call: PagerCall): number {
      const { kind, pid } = call;
      if (kind === "P2M_PAGE_FETCH" && call.fetchVaddr !== undefined) {
        return fault(pid, call.fetchVaddr);
      }
      if (kind === "P2M_PAGE_FLUSH" && call.flushVaddr !== undefined) {
        return swapOut(pid, call.flushVaddr);
      }
      if (
        kind === "P2M_PAGE_FLUSH_FETCH" && call.flushVaddr !== undefined &&
        call.fetchVaddr !== undefined
      ) {
        return swapOut(pid, call.flushVaddr) + fault(pid, call.fetchVaddr);
      }
      stats.syscalls++;
      return context.latency.messageNs(call.requestBytes + call.replyBytes, "loopback");
    },
    pageEventNs,
    takeReadahead(): PageRef[] {
      const pages = readAhead.filter((key) => !resident.has(key));
      readAhead = [];
      for (const key of pages) installing.add(key);
      return pages.map(refOf);
    },
    stats: () => ({ ...stats }),
    describe: () => ({
      ...device.describe(),
      minorFaultNs: o.minorFaultNs === MINOR_FAULT.value
        ? { ...MINOR_FAULT }
        : { value: o.minorFaultNs, unit: "ns", source: "options.minorFaultNs" },
      reclaimPageNs: o.reclaimPageNs === RECLAIM_PAGE.value
        ? { ...RECLAIM_PAGE }
        : { value: o.reclaimPageNs, unit: "ns", source: "options.reclaimPageNs" },
      readaheadMaxPages: {
        value: 1 << o.pageCluster,
        unit: "pages",
        source: "L2: 2^page-cluster, default page-cluster 3",
      },
    }),
  };
}

/** The `linux-swap` pager plugin. */
export const linuxSwapPlugin: PluginDefinition<LinuxSwapOptions, Pager, PagerContext> =
  definePlugin({
    kind: "pager",
    name: "linux-swap",
    description: "Linux 4.9 swapping to an SSD, a ramdisk or InfiniSwap (a LegoOS baseline)",
    configSchema: LinuxSwapOptionsSchema,
    create: (options: LinuxSwapOptions, context: PagerContext) =>
      createLinuxSwapPager(options, context),
  });
