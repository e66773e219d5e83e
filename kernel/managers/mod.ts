/**
 * The global managers (GPM, GMM, GSM) and their cluster state, registered as the
 * `manager-monitor` plugin named `manager`.
 *
 * @module
 */

import type { MonitorContext } from "../monitor.ts";
import { definePlugin, type PluginDefinition } from "../plugins.ts";
import { type ManagerOptions, ManagerOptionsSchema, StockManager } from "./manager_monitor.ts";

export { type ManagerOptions, ManagerOptionsSchema, StockManager } from "./manager_monitor.ts";
export * from "./cluster_state.ts";

/** The stock manager as a plugin. */
export const managerMonitorPlugin: PluginDefinition<ManagerOptions, StockManager, MonitorContext> =
  definePlugin({
    kind: "manager-monitor",
    name: "manager",
    description: "global process, memory and storage managers with heartbeat membership",
    configSchema: ManagerOptionsSchema,
    create: (options: ManagerOptions, context: MonitorContext) =>
      new StockManager(context, options),
  });
