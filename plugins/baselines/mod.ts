/**
 * Baseline machines: monolithic Linux 4.9 paging to an SSD, a ramdisk or InfiniSwap, and
 * Linux with all memory local — what the LegoOS paper compares against, as configurations
 * of the same emulator. A baseline is a processor whose cache is the machine's DRAM, with
 * the `linux-reclaim` replacement policy and the `linux-swap` pager; {@link baselineProcessor}
 * gives the processor options for one.
 *
 * @example
 * ```ts
 * import { baselinePlugins, baselineProcessor } from "./mod.ts";
 * console.assert(baselinePlugins.map((p) => p.name).join() === "linux-reclaim,linux-swap");
 * console.assert(baselineProcessor("ssd", 1 << 27).pager === "linux-swap");
 * ```
 *
 * @module
 */

import type { PluginDefinition } from "../../kernel/plugins.ts";
import { linuxReclaimPlugin } from "./linux_reclaim.ts";
import { linuxSwapPlugin } from "./linux_swap.ts";
import type { SwapDeviceName } from "./swap_devices.ts";

export {
  createLinuxReclaim,
  type LinuxReclaimOptions,
  LinuxReclaimOptionsSchema,
  linuxReclaimPlugin,
} from "./linux_reclaim.ts";
export {
  createLinuxSwapPager,
  type LinuxSwapOptions,
  LinuxSwapOptionsSchema,
  linuxSwapPlugin,
  MINOR_FAULT,
} from "./linux_swap.ts";
export { type ReadaheadWindow, SwapReadahead } from "./swap_readahead.ts";
export {
  INFINISWAP_CONSTANTS,
  type InfiniswapConstants,
  SWAP_DEVICES,
  type SwapDevice,
  swapDevice,
  type SwapDeviceName,
} from "./swap_devices.ts";

/** Every baseline plugin: the reclaim policy and the pager. */
// deno-lint-ignore no-explicit-any
export const baselinePlugins: readonly PluginDefinition<any, unknown, any>[] = [
  linuxReclaimPlugin,
  linuxSwapPlugin,
];

/**
 * Processor options that make a processor a Linux machine with `memoryBytes` of DRAM
 * swapping to `device` (`"none"`: all memory local). `ways` is the associativity of its
 * page lists (Linux's are global; many ways come closer, at some emulation cost).
 */
export function baselineProcessor(
  device: SwapDeviceName,
  memoryBytes: number,
  ways = 512,
  pagerOptions: Record<string, unknown> = {},
): {
  cacheBytes: number;
  ways: number;
  replacement: string;
  pager: string;
  pagerOptions: Record<string, unknown>;
} {
  return {
    cacheBytes: memoryBytes,
    ways: Math.min(ways, memoryBytes / 4096),
    replacement: "linux-reclaim",
    pager: "linux-swap",
    pagerOptions: { device, ...pagerOptions },
  };
}
