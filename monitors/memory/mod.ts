/**
 * The stock memory monitor, registered as the `memory-monitor` plugin named `memory`.
 *
 * @module
 */

import { definePlugin, type PluginDefinition } from "../../kernel/plugins.ts";
import type { MonitorContext } from "../../kernel/monitor.ts";
import { type MemoryOptions, MemoryOptionsSchema, StockMemoryMonitor } from "./memory_monitor.ts";

export { type MemoryOptions, MemoryOptionsSchema, StockMemoryMonitor } from "./memory_monitor.ts";

/** The stock memory monitor as a plugin. */
export const memoryMonitorPlugin: PluginDefinition<
  MemoryOptions,
  StockMemoryMonitor,
  MonitorContext
> = definePlugin({
  kind: "memory-monitor",
  name: "memory",
  description: "virtual memory, page tables and a DRAM frame pool (LegoOS mComponent)",
  configSchema: MemoryOptionsSchema,
  create: (options: MemoryOptions, context: MonitorContext) =>
    new StockMemoryMonitor(context, options),
});
