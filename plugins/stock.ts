/**
 * The stock plugins: what a fresh registry holds. Users register their own plugins next
 * to these, through the same registry.
 *
 * @module
 */

import { managerMonitorPlugin } from "../monitors/manager/mod.ts";
import { type PluginDefinition, PluginRegistry } from "../kernel/plugins.ts";
import { memoryMonitorPlugin } from "../monitors/memory/mod.ts";
import { processorMonitorPlugin } from "../monitors/processor/mod.ts";
import { storageMonitorPlugin } from "../monitors/storage/mod.ts";
import { faultTransportPlugin } from "../transports/fault/plugin.ts";
import { memoryTransportPlugin } from "../transports/memory_plugin.ts";
import { rdmaTransportPlugin } from "../transports/rdma/plugin.ts";
import { tcpTransportPlugin } from "../transports/tcp/plugin.ts";
import { baselinePlugins } from "./baselines/mod.ts";
import { latencyModelPlugins } from "./latency/mod.ts";
import { placementPlugins } from "./placement/mod.ts";
import { replacementPolicyPlugins } from "./replacement/mod.ts";

/** Every stock plugin. */
// deno-lint-ignore no-explicit-any
export const STOCK_PLUGINS: readonly PluginDefinition<any, unknown, any>[] = [
  memoryTransportPlugin,
  tcpTransportPlugin,
  rdmaTransportPlugin,
  faultTransportPlugin,
  ...latencyModelPlugins,
  managerMonitorPlugin,
  processorMonitorPlugin,
  memoryMonitorPlugin,
  storageMonitorPlugin,
  ...placementPlugins,
  ...replacementPolicyPlugins,
  ...baselinePlugins,
];

/**
 * A registry holding the stock plugins.
 *
 * @example
 * ```ts
 * import { createStockRegistry } from "./stock.ts";
 * const registry = createStockRegistry();
 * console.assert(registry.has("transport", "memory"));
 * ```
 */
export function createStockRegistry(): PluginRegistry {
  const registry = new PluginRegistry();
  for (const plugin of STOCK_PLUGINS) registry.register(plugin);
  return registry;
}
