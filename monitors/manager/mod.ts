/**
 * The global managers (GPM, GMM, GSM) and their cluster state, registered as the
 * `manager-monitor` plugin named `manager`. Their placement policies are plugins of the
 * kinds `process-placement`, `vregion-placement` and `file-placement` (contracts in
 * `kernel/placement.ts`, stock ones in `plugins/placement/`), chosen by name in the
 * manager's options.
 *
 * @example
 * ```ts
 * import { managerMonitorPlugin } from "./mod.ts";
 * console.assert(managerMonitorPlugin.kind === "manager-monitor");
 * ```
 *
 * @module
 */

import type { MonitorContext } from "../../kernel/monitor.ts";
import { definePlugin, type PluginDefinition } from "../../kernel/plugins.ts";
import { type ManagerOptions, ManagerOptionsSchema, StockManager } from "./manager_monitor.ts";

export {
  type ControlOptions,
  type ManagerOptions,
  ManagerOptionsSchema,
  type PlacementKind,
  type PolicySelection,
  StockManager,
} from "./manager_monitor.ts";
export { FailureDetector, type FailureDetectorOptions } from "./failure_detector.ts";
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
