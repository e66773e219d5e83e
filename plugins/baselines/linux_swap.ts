/**
 * `linux-swap`: a monolithic Linux 4.9 machine whose local DRAM (the processor's cache,
 * with the `linux-reclaim` reclaim policy) is backed by a swap device — the baselines of the
 * LegoOS paper. A `"pager"` plugin: the processor prices every call through it.
 *
 * - **Major fault** (a page that was swapped out and is not in the swap cache): one read
 *   of the readahead window around the page's swap slot from the device
 *   (`swap_readahead.ts`); the window's other pages enter the swap cache.
 * - **Minor fault** (a page read ahead and still in the swap cache, or a page never
 *   swapped out, which the fault zero-fills): the fault path's software cost alone.
 * - **Swap-out** of a dirty page: a new swap slot, allocated in order (as the kernel's
 *   cluster allocator hands them out), and the page write; by default the faulting thread
 *   waits for it (`writeBack: "sync"`: under sustained pressure, direct reclaim cannot
 *   free the page before its write-back ends); with `"async"` the write overlaps.
 *   A page written after it was swapped in loses its old slot (its copy is stale), a clean
 *   page dropped from memory keeps it and is read back from there.
 * - Every other call (mmap, brk, files, process start and exit) is a system call on the
 *   same machine: a memory copy of its payload (the latency model's loopback cost).
 *
 * Readahead pages are tracked in model time only: the swap cache is a set of page keys,
 * bounded by the inactive list's share of memory (`lines / (1 + inactiveRatio)`), oldest
 * forgotten first, rather than lines occupying the emulated cache.
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
import type { Pager, PagerCall, PagerContext } from "../../kernel/pager.ts";
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

/** The fault path's software cost when no I/O is needed (the default of `minorFaultNs`). */
export const MINOR_FAULT: LatencyConstant = {
  value: 1e9 / 1_040e3,
  unit: "ns",
  source: "A2 derived: 1e9 / 1040 KIOPS (Linux first-touch faults, 1 thread, Fig. 8)",
};

/** Options of `linux-swap`. */
export interface LinuxSwapOptions {
  /** The swap device (default `ssd`). */
  device: SwapDeviceName;
  /** `log2` of the most pages one swap-in reads (Linux `vm.page-cluster`, default 3 = 8). */
  pageCluster: number;
  /** Whether the faulting thread waits for a dirty page's write-back (default `sync`). */
  writeBack: "sync" | "async";
  /** Inactive:active ratio of reclaim, for the swap cache's bound (default 1). */
  inactiveRatio: number;
  /** The fault path's software cost without I/O [ns] (A2 derived). */
  minorFaultNs: number;
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
  inactiveRatio: z.number().int().min(1).max(64).default(1),
  minorFaultNs: z.number().nonnegative().default(MINOR_FAULT.value).describe(
    `fault path without I/O [ns] (${MINOR_FAULT.source})`,
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
  const swapCacheBound = Math.max(1, Math.floor(context.lines / (1 + o.inactiveRatio)));
  const slotOf = new Map<number, number>(); // page key → swap slot
  const pageAt = new Map<number, number>(); // swap slot → page key
  const swapCache = new Map<number, true>(); // pages read ahead, oldest first
  let nextSlot = 1; // slot 0 is the swap header
  const stats = {
    majorFaults: 0,
    minorFaults: 0,
    zeroFills: 0,
    readaheadPages: 0,
    readaheadHits: 0,
    swapOuts: 0,
    pagesRead: 0,
    syscalls: 0,
  };
  const keyOf = (pid: number, vaddr: number) => pid * VLINES + Math.floor(vaddr / PAGE);

  const fault = (pid: number, vaddr: number): number => {
    const key = keyOf(pid, vaddr);
    if (swapCache.delete(key)) {
      readahead.hit();
      stats.readaheadHits++;
      stats.minorFaults++;
      return o.minorFaultNs;
    }
    const slot = slotOf.get(key);
    if (slot === undefined) {
      stats.zeroFills++;
      stats.minorFaults++;
      return o.minorFaultNs;
    }
    const window = readahead.window(slot);
    let pages = 0;
    for (let s = window.first; s <= window.last; s++) {
      const page = pageAt.get(s);
      if (page === undefined) continue; // a free slot: nothing to read
      pages++;
      if (page === key || swapCache.has(page)) continue;
      swapCache.set(page, true);
      stats.readaheadPages++;
      if (swapCache.size > swapCacheBound) swapCache.delete(swapCache.keys().next().value!);
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
    swapCache.delete(key);
    stats.swapOuts++;
    return o.writeBack === "sync" ? device.writeNs() : 0;
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
    stats: () => ({ ...stats }),
    describe: () => ({
      ...device.describe(),
      minorFaultNs: o.minorFaultNs === MINOR_FAULT.value
        ? { ...MINOR_FAULT }
        : { value: o.minorFaultNs, unit: "ns", source: "options.minorFaultNs" },
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
