/**
 * Booting a whole cluster inside one process from a resolved config: one transport,
 * one latency model, and a monitor per component, each talking only through its own
 * transport endpoint.
 *
 * The kernel knows no concrete monitor or transport: everything is created by name from
 * the plugin registry, so stock and user plugins boot the same way.
 *
 * @module
 */

import { WallClock } from "./clock.ts";
import type { ResolvedClusterConfig } from "./config.ts";
import { KernelError } from "./errors.ts";
import { EventBus } from "./events.ts";
import type { ComponentId } from "./ids.ts";
import type { LatencyModel } from "./latency.ts";
import { MetricsRegistry } from "./metrics.ts";
import type {
  ManagerMonitor,
  Monitor,
  MonitorContext,
  ProcessorMonitor,
  ProcessResult,
} from "./monitor.ts";
import type { PluginRegistry } from "./plugins.ts";
import { RpcNode } from "./rpc.ts";
import type { Transport } from "./transport.ts";

/** Options for {@link bootCluster}. */
export interface BootOptions {
  /** Where monitors' log lines go (default: standard error, prefixed by component id). */
  log?: (component: ComponentId, message: string) => void;
}

/** The outcome of {@link Cluster.run}: the process result plus where it ran. */
export interface RunResult extends ProcessResult {
  /** The processor component that ran it. */
  processor: ComponentId;
  /** Its home memory component. */
  home: ComponentId;
}

/** A running cluster. */
export interface Cluster {
  /** The config's name. */
  readonly name: string;
  /** The transport every component is attached to. */
  readonly transport: Transport;
  /** The latency model charging model time. */
  readonly latency: LatencyModel;
  /** Cluster events. */
  readonly events: EventBus;
  /** Metrics of every component. */
  readonly metrics: MetricsRegistry;
  /** Monitors by component id, in boot order. */
  readonly monitors: ReadonlyMap<ComponentId, Monitor>;
  /** RPC nodes by component id (for inspection and tests). */
  readonly rpc: ReadonlyMap<ComponentId, RpcNode>;
  /** The manager monitor. */
  readonly manager: ManagerMonitor;
  /** Places and runs a workload (`main(proc)` module) to completion. */
  run(workload: string, args?: readonly string[]): Promise<RunResult>;
  /** Every monitor's statistics, by component id. */
  stats(): Record<ComponentId, Record<string, unknown>>;
  /** Stops every monitor and closes the transport. Idempotent. */
  stop(): Promise<void>;
}

// Managers first (others join them), processors last (they run workloads).
const BOOT_ORDER = { manager: 0, storage: 1, memory: 2, processor: 3 } as const;

/**
 * Boots every component of `config` in this process.
 *
 * @example
 * ```ts ignore
 * const cluster = await bootCluster(resolvedConfig, registry);
 * const result = await cluster.run("examples/workloads/demo.ts");
 * await cluster.stop();
 * ```
 */
export async function bootCluster(
  config: ResolvedClusterConfig,
  registry: PluginRegistry,
  options: BootOptions = {},
): Promise<Cluster> {
  const log = options.log ??
    ((component: ComponentId, message: string) => console.error(`[${component}] ${message}`));
  const transport = await registry.create<Transport>(
    "transport",
    config.transport.plugin,
    config.transport.options,
    {},
  );
  const latency = await registry.create<LatencyModel>(
    "latency-model",
    config.latencyModel.plugin,
    config.latencyModel.options,
    {},
  );
  const events = new EventBus();
  const metrics = new MetricsRegistry();
  const wallClock = new WallClock();
  const manager = config.components.find((c) => c.role === "manager");
  if (!manager) throw new KernelError("EINVAL", "the cluster config has no manager component");

  const monitors = new Map<ComponentId, Monitor>();
  const rpcs = new Map<ComponentId, RpcNode>();
  const ordered = [...config.components].sort((a, b) => BOOT_ORDER[a.role] - BOOT_ORDER[b.role]);
  const stop = async () => {
    for (const monitor of [...monitors.values()].reverse()) {
      await monitor.stop().catch((e) => log(monitor.id, `stop failed: ${(e as Error).message}`));
    }
    monitors.clear();
    for (const rpc of rpcs.values()) await rpc.close();
    rpcs.clear();
    await transport.close();
  };
  try {
    for (const component of ordered) {
      const endpoint = await transport.attach(component.id);
      const rpc = new RpcNode(endpoint, {
        onBadFrame: (error, from) =>
          log(component.id, `dropped a bad frame from ${from}: ${error.message}`),
      });
      rpcs.set(component.id, rpc);
      const context: MonitorContext = {
        id: component.id,
        role: component.role,
        manager: manager.id,
        rpc,
        endpoint,
        latency,
        wallClock,
        events,
        metrics,
        registry,
        log: (message) => log(component.id, message),
      };
      const monitor = await registry.create<Monitor>(
        component.kind,
        component.plugin,
        component.options,
        context,
      );
      monitors.set(component.id, monitor);
      await monitor.start();
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const managerMonitor = monitors.get(manager.id) as ManagerMonitor;
  let stopped = false;
  return {
    name: config.name,
    transport,
    latency,
    events,
    metrics,
    monitors,
    rpc: rpcs,
    manager: managerMonitor,
    async run(workload, args = []) {
      if (stopped) throw new KernelError("ESHUTDOWN", "the cluster is stopped");
      const placement = await managerMonitor.placeProcess(1);
      const processor = monitors.get(placement.processor) as ProcessorMonitor | undefined;
      if (!processor || typeof processor.runProcess !== "function") {
        throw new KernelError("EINVAL", `${placement.processor} is not a processor monitor`);
      }
      const result = await processor.runProcess({
        pid: placement.pid,
        home: placement.home,
        workload,
        args,
      });
      return { ...result, processor: placement.processor, home: placement.home };
    },
    stats() {
      return Object.fromEntries([...monitors].map(([id, m]) => [id, m.stats()]));
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await stop();
    },
  };
}
