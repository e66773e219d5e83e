/**
 * What the control plane reads and steers: a narrow interface the manager component
 * provides, so HTTP handlers never reach into a monitor's internals. Everything they
 * show comes from the managers' cluster state, component heartbeats, queries sent as
 * messages, the event bus and the metrics registry.
 *
 * @module
 */

import type { EventBus } from "../../../kernel/events.ts";
import type { ComponentId } from "../../../kernel/ids.ts";
import type { LatencyModel } from "../../../kernel/latency.ts";
import type { ClusterCensus, ClusterSnapshot } from "../cluster_state.ts";
import type { MetricsRegistry } from "../../../kernel/metrics.ts";

/** A request to start a process. */
export interface SpawnRequest {
  /** Workload module path or URL, as the processor will import it. */
  workload: string;
  /** Arguments for the workload. */
  args: string[];
  /** Threads it will run (placement input). */
  threads: number;
  /** Run on this processor instead of the one placement would choose. */
  processor?: ComponentId;
}

/** Where a started process runs. */
export interface SpawnResult {
  /** The new process id. */
  pid: number;
  /** Processor running it. */
  processor: ComponentId;
  /** Its home memory component. */
  home: ComponentId;
}

/** The policy kinds that can be switched at run time. */
export type PolicyKind =
  | "process-placement"
  | "vregion-placement"
  | "file-placement"
  | "replacement-policy";

/** What the control plane may change. Every method rejects with a `KernelError`. */
export interface ControlActions {
  /** Places and starts a process; resolves once it started (not when it exits). */
  spawn(request: SpawnRequest): Promise<SpawnResult>;
  /** Ends a running process. */
  kill(pid: number): Promise<void>;
  /** Marks a component drained (no new placements) or undrained. */
  drain(id: ComponentId, drained: boolean): Promise<void>;
  /** Stops a component (fault injection). */
  stopComponent(id: ComponentId): Promise<void>;
  /** Switches a policy: a manager policy, or a processor's replacement policy. */
  setPolicy(kind: PolicyKind, name: string, component?: ComponentId): Promise<void>;
}

/** Everything the control plane needs. */
export interface ControlSource {
  /** Name of the cluster. */
  readonly name: string;
  /** When the manager started, epoch ms. */
  readonly startedAt: number;
  /** The managers' state (components with their latest load, processes, placements). */
  snapshot(): ClusterSnapshot;
  /**
   * Asks component `id` a question by message (`MGR_QUERY`): `stats`, `transport`,
   * `address-space` (args `{ pid }`), ... Rejects with `ENOENT` for an unknown id.
   */
  query(id: ComponentId, what: string, args?: Record<string, unknown>): Promise<unknown>;
  /** Cluster events. */
  readonly events: EventBus;
  /** Metrics registry (exported at `/metrics`). */
  readonly metrics: MetricsRegistry;
  /** The latency model in force. */
  readonly latency: LatencyModel;
  /** The policies in force, by kind. */
  policies(): Record<string, string>;
  /** Counts of components and processes (default: counted from a snapshot). */
  census?(): ClusterCensus;
  /** Mutations. */
  readonly actions: ControlActions;
}
