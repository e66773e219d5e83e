/**
 * The stock processor monitor, registered as the `processor-monitor` plugin named
 * `processor`: threads on Workers sharing an ExCache in shared memory, misses served by
 * message from memory components, system calls routed as LegoOS routes them.
 *
 * @module
 */

import { definePlugin, type PluginDefinition } from "../../kernel/plugins.ts";
import type { MonitorContext } from "../../kernel/monitor.ts";
import {
  type ProcessorOptions,
  ProcessorOptionsSchema,
  StockProcessorMonitor,
} from "./processor_monitor.ts";

export {
  type ProcessCounters,
  type ProcessorOptions,
  ProcessorOptionsSchema,
  StockProcessorMonitor,
} from "./processor_monitor.ts";

/** The stock processor monitor as a plugin. */
export const processorMonitorPlugin: PluginDefinition<
  ProcessorOptions,
  StockProcessorMonitor,
  MonitorContext
> = definePlugin({
  kind: "processor-monitor",
  name: "processor",
  description: "threads on Workers sharing an ExCache; misses fetched from memory by message",
  configSchema: ProcessorOptionsSchema,
  create: (options: ProcessorOptions, context: MonitorContext) =>
    new StockProcessorMonitor(context, options),
});
