/**
 * Talking to a running cluster from a script: the typed HTTP client of the manager's
 * control plane ({@link createControlClient}, built on `hono/client`, so requests and
 * answers are typed from the same schemas that validate them). The message client the
 * CLI's `run`, `status`, `ps` and `top` use, `connectClusterClient`, is in `mod.ts`.
 *
 * Import it by path from anywhere: `import { createControlClient } from
 * "../legoemu/client.ts"`, or as the `./client` export of the package.
 *
 * @example
 * ```ts
 * import { createControlClient } from "./client.ts";
 * // A client needs no connection until it is used.
 * const client = createControlClient("http://127.0.0.1:7080", { token: "secret-token" });
 * console.assert(typeof client.cluster === "function");
 * ```
 *
 * @module
 */

export {
  type ClusterSummaryView,
  type ComponentView,
  type ControlClient,
  ControlClientError,
  createControlClient,
  type ProcessView,
} from "./monitors/manager/control/client.ts";
export type { SpawnRequest, SpawnResult } from "./monitors/manager/control/source.ts";
export type { ComponentId, Role } from "./kernel/ids.ts";
export type { AssignedCounts } from "./kernel/placement.ts";
export type { ClusterEvent, ClusterEventType } from "./kernel/events.ts";
export type * from "./kernel/cluster_snapshot.ts";
