/**
 * The {@link ControlSource} a manager component offers: reads come from the managers'
 * state and the event bus; questions and commands for other components travel as
 * messages (`MGR_QUERY`, `MGR_EXEC`, `MGR_KILL`, `MGR_SET_POLICY`, `MGR_STOP`).
 *
 * @module
 */

import type { Cluster } from "../../../kernel/cluster.ts";
import { KernelError } from "../../../kernel/errors.ts";
import type { EventBus } from "../../../kernel/events.ts";
import type { ComponentId } from "../../../kernel/ids.ts";
import type { LatencyModel } from "../../../kernel/latency.ts";
import type { MetricsRegistry } from "../../../kernel/metrics.ts";
import type { ManagerMonitor } from "../../../kernel/monitor.ts";
import type { RpcNode } from "../../../kernel/rpc.ts";
import { censusOf, type ClusterCensus } from "../cluster_state.ts";
import type { ControlSource, PolicyKind, SpawnRequest, SpawnResult } from "./source.ts";

// The control plane serves events from the bus itself; copying them into every snapshot
// was a large share of a `GET /api/cluster`.
const NO_EVENTS = { events: false } as const;

/**
 * What a manager may expose beyond {@link ManagerMonitor} for the control plane. Its
 * placement policies switch through the monitor's own `setPolicy`.
 */
export interface SteerableManager extends ManagerMonitor {
  /** Marks a component drained (no new placements) or undrained. */
  drain?(id: ComponentId, drained: boolean): Promise<void>;
  /** The policies in force, by kind. */
  policies?(): Record<string, string>;
  /** Counts of components and processes, cheaper than a snapshot. */
  census?(): ClusterCensus;
}

/** What {@link managerControlSource} needs. */
export interface ManagerControlParams {
  /** Cluster name. */
  name: string;
  /** The manager monitor. */
  manager: SteerableManager;
  /** The manager's RPC node, to reach other components. */
  rpc: RpcNode;
  /** Cluster events. */
  events: EventBus;
  /** Metrics registry. */
  metrics: MetricsRegistry;
  /** The latency model in force. */
  latency: LatencyModel;
  /** Writes a log line. */
  log?: (message: string) => void;
  /** Timeout of questions to components, ms (default 5000). */
  queryTimeoutMs?: number;
}

/**
 * Builds the control source of a manager.
 *
 * @example
 * ```ts ignore
 * const source = managerControlSource({ name, manager, rpc, events, metrics, latency });
 * const server = await serveControlPlane(source, { port: 0 });
 * ```
 */
export function managerControlSource(params: ManagerControlParams): ControlSource {
  const { manager, rpc } = params;
  const log = params.log ?? (() => {});
  const timeoutMs = params.queryTimeoutMs ?? 5000;
  const startedAt = Date.now();
  const component = (id: ComponentId) =>
    manager.snapshot(NO_EVENTS).components.find((c) => c.id === id);
  return {
    name: params.name,
    startedAt,
    events: params.events,
    metrics: params.metrics,
    latency: params.latency,
    snapshot: () => manager.snapshot(NO_EVENTS),
    policies: () => manager.policies?.() ?? {},
    census: () => manager.census?.() ?? censusOf(manager.snapshot(NO_EVENTS)),
    async query(id, what, args = {}) {
      if (!component(id)) throw new KernelError("ENOENT", `no component "${id}"`);
      const { result } = await rpc.call(id, "MGR_QUERY", { what, args }, { timeoutMs });
      return result;
    },
    actions: {
      async spawn(request: SpawnRequest): Promise<SpawnResult> {
        const placement = await manager.placeProcess(request.threads, request.processor);
        // The process runs on; its exit reaches the managers as MGR_PROCESS_EXIT.
        rpc.call(placement.processor, "MGR_EXEC", {
          pid: placement.pid,
          home: placement.home,
          workload: request.workload,
          args: request.args,
        }, { timeoutMs: Infinity }).catch((e) =>
          log(`process ${placement.pid} on ${placement.processor}: ${(e as Error).message}`)
        );
        return placement;
      },
      async kill(pid: number): Promise<void> {
        const process = manager.snapshot(NO_EVENTS).processes.find((p) => p.pid === pid);
        if (!process) throw new KernelError("ESRCH", `no process ${pid}`);
        await rpc.call(process.processor, "MGR_KILL", { pid }, { timeoutMs });
      },
      async drain(id: ComponentId, drained: boolean): Promise<void> {
        if (!manager.drain) throw new KernelError("EINVAL", "this manager cannot drain components");
        await manager.drain(id, drained);
      },
      async stopComponent(id: ComponentId): Promise<void> {
        if (!component(id)) throw new KernelError("ENOENT", `no component "${id}"`);
        await rpc.call(id, "MGR_STOP", {}, { timeoutMs });
      },
      async setPolicy(kind: PolicyKind, name: string, target?: ComponentId): Promise<void> {
        if (kind === "replacement-policy") {
          if (!target) throw new KernelError("EINVAL", "a replacement policy needs a processor");
          await rpc.call(target, "MGR_SET_POLICY", { kind, name }, { timeoutMs });
          return;
        }
        if (!manager.setPolicy) {
          throw new KernelError("EINVAL", "this manager cannot switch placement policies");
        }
        await manager.setPolicy(kind, name);
      },
    },
  };
}

/**
 * The control source of an in-process cluster's manager (what its manager would serve
 * with the `control` option), for scripts, tests and benchmarks that serve it themselves.
 *
 * @example
 * ```ts ignore
 * const server = await serveControlPlane(clusterControlSource(cluster), { port: 0 });
 * ```
 */
export function clusterControlSource(cluster: Cluster): ControlSource {
  const rpc = cluster.rpc.get(cluster.manager.id);
  if (!rpc) throw new KernelError("ESHUTDOWN", "the cluster's manager is not running");
  return managerControlSource({
    name: cluster.name,
    manager: cluster.manager as SteerableManager,
    rpc,
    events: cluster.events,
    metrics: cluster.metrics,
    latency: cluster.latency,
  });
}
