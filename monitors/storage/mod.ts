/**
 * The stock storage monitor (LegoOS sComponent), registered as the `storage-monitor`
 * plugin named `storage`, and a client for it.
 *
 * A stateless, NFSv2-style file service over a host directory: every request carries the
 * full path and offset. Paths name files in a vNode's own namespace — `@alice/data.bin`
 * is `data.bin` of vNode `alice`, `data.bin` alone is in the default vNode (grammar and
 * limits in `storage_path.ts`, host layout and symlink rules in `safe_path.ts`).
 *
 * @example
 * ```ts
 * import { parseStoragePath, storageMonitorPlugin } from "./mod.ts";
 * console.assert(storageMonitorPlugin.kind === "storage-monitor");
 * console.assert(parseStoragePath("@alice/data.bin").vnode === "alice");
 * ```
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
  MAX_FILE_BYTES,
  MAX_IO_BYTES,
  MAX_READDIR_ENTRIES,
  StockStorageMonitor,
  type StorageOptions,
  StorageOptionsSchema,
} from "./storage_monitor.ts";
export { StorageClient, type StorageClientOptions, type StorageStat } from "./client.ts";
export {
  MAX_NAME_BYTES,
  MAX_PATH_BYTES,
  parseStoragePath,
  type StoragePath,
} from "./storage_path.ts";
export { type HostPath, resolveHostPath, vnodeDirectory } from "./safe_path.ts";

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
