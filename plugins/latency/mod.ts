/**
 * The stock latency models, as `"latency-model"` plugins:
 * - `legoos-ib` (default): LegoOS RPC and one-sided RDMA over 40 Gbps InfiniBand;
 * - `ipoib`: Linux TCP/IP over the same InfiniBand.
 *
 * @example
 * ```ts
 * import { PluginRegistry } from "../../kernel/plugins.ts";
 * import { latencyModelPlugins } from "./mod.ts";
 * const registry = new PluginRegistry();
 * for (const plugin of latencyModelPlugins) registry.register(plugin);
 * console.assert(registry.names("latency-model").join() === "ipoib,legoos-ib");
 * ```
 *
 * @module
 */

import type { LatencyModel } from "../../kernel/latency.ts";
import type { PluginDefinition } from "../../kernel/plugins.ts";
import { ipoibLatencyPlugin } from "./ipoib.ts";
import { legoosIbLatencyPlugin } from "./legoos_ib.ts";

export type { CurvePoint } from "./_curve.ts";
export type { CpuConstantName, CpuConstants } from "./_cpu.ts";
export type { DeviceConstantName, DeviceConstants } from "./_devices.ts";
export { ipoibLatencyPlugin, type IpoibOptions, IpoibOptionsSchema } from "./ipoib.ts";
export { legoosIbLatencyPlugin, type LegoosIbOptions, LegoosIbOptionsSchema } from "./legoos_ib.ts";

/**
 * Every stock latency-model plugin, default first.
 *
 * @example
 * ```ts
 * import { latencyModelPlugins } from "./mod.ts";
 * console.assert(latencyModelPlugins[0].name === "legoos-ib");
 * ```
 */
export const latencyModelPlugins: readonly PluginDefinition<unknown, LatencyModel>[] = Object
  .freeze([legoosIbLatencyPlugin, ipoibLatencyPlugin]);
