/**
 * The stock storage monitor, registered as the `storage-monitor` plugin named `storage`.
 *
 * @module
 */

import { definePlugin, type PluginDefinition } from "../../kernel/plugins.ts";
import type { MonitorContext } from "../../kernel/monitor.ts";
import {
  StockStorageMonitor,
  type StorageOptions,
  StorageOptionsSchema,
} from "./storage_monitor.ts";

export {
  MAX_IO_BYTES,
  StockStorageMonitor,
  type StorageOptions,
  StorageOptionsSchema,
} from "./storage_monitor.ts";

/** The stock storage monitor as a plugin. */
export const storageMonitorPlugin: PluginDefinition<
  StorageOptions,
  StockStorageMonitor,
  MonitorContext
> = definePlugin({
  kind: "storage-monitor",
  name: "storage",
  description: "stateless file service over a host directory (LegoOS sComponent)",
  configSchema: StorageOptionsSchema,
  create: (options: StorageOptions, context: MonitorContext) =>
    new StockStorageMonitor(context, options),
});
