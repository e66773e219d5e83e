/**
 * The stock memory monitor, registered as the `memory-monitor` plugin named `memory`, and
 * the pieces it is made of (address space, VMAs, hashed page table, frame pool, swap,
 * buffer cache, and in PMEM mode the persistent pool and the persistent-write paths).
 *
 * @module
 */

import { definePlugin, type PluginDefinition } from "../../kernel/plugins.ts";
import type { MonitorContext } from "../../kernel/monitor.ts";
import { type MemoryOptions, MemoryOptionsSchema, StockMemoryMonitor } from "./memory_monitor.ts";

export { type MemoryOptions, MemoryOptionsSchema, StockMemoryMonitor } from "./memory_monitor.ts";
export {
  AddressSpace,
  HEAP_START,
  MAX_MAP_COUNT,
  MMAP_BASE,
  MMAP_MIN_ADDR,
  type SpaceResult,
  type SpaceStep,
  TASK_SIZE,
} from "./address_space.ts";
export { type Vma, VmaList } from "./vma.ts";
export { NO_PAGE, PageTable } from "./page_table.ts";
export { FramePool } from "./frame_pool.ts";
export type { OnFull, PageOwnerCounters } from "./page_owner.ts";
export type { BufferCacheStats } from "./buffer_cache.ts";
export type { AddressSpaceView } from "./home.ts";
export {
  PATH_NAMES,
  type PathCost,
  PERSIST_PATHS,
  persistCost,
  type PersistPath,
  type PersistResult,
  persistThroughput,
  PmemClient,
  type PmemClientOptions,
} from "./pmem_paths.ts";
export { type PmemInfo, type PmemOptions, PmemOptionsSchema } from "./pmem_service.ts";
export { PmemDamageError } from "./pmem_log.ts";
export type { PmemPoolStats } from "./pmem_pool.ts";

/**
 * The stock memory monitor as a plugin.
 *
 * @example
 * ```ts
 * import { memoryMonitorPlugin } from "./mod.ts";
 * console.assert(memoryMonitorPlugin.kind === "memory-monitor" && memoryMonitorPlugin.name === "memory");
 * ```
 */
export const memoryMonitorPlugin: PluginDefinition<
  MemoryOptions,
  StockMemoryMonitor,
  MonitorContext
> = definePlugin({
  kind: "memory-monitor",
  name: "memory",
  description:
    "vRegions, VMA trees, hashed page tables over a DRAM frame pool, swap to storage and a buffer cache (LegoOS mComponent)",
  configSchema: MemoryOptionsSchema,
  create: (options: MemoryOptions, context: MonitorContext) =>
    new StockMemoryMonitor(context, options),
});
