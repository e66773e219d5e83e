/**
 * The control plane: a Hono app over the managers' state, served by the manager
 * component, with a typed client.
 *
 * @module
 */

export { type ControlApp, type ControlAppOptions, createControlApp } from "./app.ts";
export { randomToken } from "./auth.ts";
export {
  type ClusterSummaryView,
  type ComponentView,
  type ControlClient,
  ControlClientError,
  createControlClient,
  type ProcessView,
} from "./client.ts";
export {
  clusterControlSource,
  type ManagerControlParams,
  managerControlSource,
  type SteerableManager,
} from "./manager_source.ts";
export { renderPrometheus } from "./prometheus.ts";
export {
  type ControlServer,
  type ControlServerOptions,
  resolveControlToken,
  serveControlPlane,
} from "./server.ts";
export type {
  ControlActions,
  ControlSource,
  PolicyKind,
  SpawnRequest,
  SpawnResult,
} from "./source.ts";
