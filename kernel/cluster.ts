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
import { componentTransport, type ResolvedClusterConfig, type ResolvedPlugin } from "./config.ts";
import { KernelError } from "./errors.ts";
import { bootComponent, type ComponentEnvironment } from "./component.ts";
import { EventBus } from "./events.ts";
import type { ComponentId } from "./ids.ts";
import type { LatencyModel } from "./latency.ts";
import { ModelScheduler } from "./model_scheduler.ts";
import { MetricsRegistry } from "./metrics.ts";
import type { ManagerMonitor, Monitor, ProcessorMonitor, ProcessResult } from "./monitor.ts";
import type { PluginRegistry } from "./plugins.ts";
import type { RpcNode } from "./rpc.ts";
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

/** Options for {@link Cluster.run}. */
export interface RunOptions {
  /** Threads the process will run, for placement (default 1). */
  threads?: number;
}

/** A running cluster. */
export interface Cluster {
  /** The config's name. */
  readonly name: string;
  /** The manager's transport (the cluster-wide one unless the manager overrides it). */
  readonly transport: Transport;
  /** Every transport instance, one per distinct plugin choice among the components. */
  readonly transports: readonly Transport[];
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
  /**
   * Places and runs a workload (`main(proc)` module) to completion. `options.threads` is
   * how many threads the process will run (default 1), which the global process manager
   * weighs when it places the process.
   */
  run(workload: string, args?: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Every monitor's statistics, by component id. */
  stats(): Record<ComponentId, Record<string, unknown>>;
  /**
   * Stops one component (fault injection): its monitor stops and its endpoint closes, so
   * peers' messages to it fail as unreachable. The managers notice by missed heartbeats.
   */
  stopComponent(id: ComponentId): Promise<void>;
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
  // One instance per distinct choice: components with the same plugin and options share it
  // (the memory transport only connects endpoints of one instance).
  const transports = new Map<string, Transport>();
  const transportFor = async (choice: ResolvedPlugin): Promise<Transport> => {
    const key = JSON.stringify([choice.plugin, choice.options]);
    let transport = transports.get(key);
    if (!transport) {
      // A wrapping transport (fault injection) builds its inner one from the registry.
      transport = await registry.create<Transport>("transport", choice.plugin, choice.options, {
        registry,
      });
      transports.set(key, transport);
    }
    return transport;
  };
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
  let transport: Transport;
  try {
    transport = await transportFor(componentTransport(config, manager));
    for (const c of config.components) await transportFor(componentTransport(config, c));
  } catch (e) {
    for (const t of transports.values()) await t.close();
    throw e;
  }

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
    for (const t of transports.values()) await t.close();
  };
  try {
    const environment: ComponentEnvironment = {
      cluster: config.name,
      transport,
      latency,
      wallClock,
      events,
      metrics,
      registry,
      manager: manager.id,
      log,
      ...(config.seed === undefined ? {} : { scheduler: new ModelScheduler(config.seed) }),
    };
    for (const component of ordered) {
      const booted = await bootComponent(component, {
        ...environment,
        transport: await transportFor(componentTransport(config, component)),
      }, {
        // Network transports listen where the config says and find peers through the
        // manager; the in-memory transport ignores these.
        attachOptions: {
          listen: component.address,
          manager: { id: manager.id, address: manager.address },
          log: (message: string) => log(component.id, `transport: ${message}`),
        },
        stop: () => stopComponent(component.id),
      });
      rpcs.set(component.id, booted.rpc);
      monitors.set(component.id, booted.monitor);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const managerMonitor = monitors.get(manager.id) as ManagerMonitor;
  async function stopComponent(id: ComponentId): Promise<void> {
    const monitor = monitors.get(id);
    if (!monitor) throw new KernelError("ENOENT", `no running component "${id}"`);
    monitors.delete(id);
    await monitor.stop().catch((e) => log(id, `stop failed: ${(e as Error).message}`));
    await rpcs.get(id)?.close();
    rpcs.delete(id);
    log(id, "stopped");
  }
  let stopped = false;
  return {
    name: config.name,
    transport,
    transports: [...transports.values()],
    latency,
    events,
    metrics,
    monitors,
    rpc: rpcs,
    manager: managerMonitor,
    async run(workload, args = [], options = {}) {
      if (stopped) throw new KernelError("ESHUTDOWN", "the cluster is stopped");
      const placement = await managerMonitor.placeProcess(options.threads ?? 1);
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
    stopComponent,
    async stop() {
      if (stopped) return;
      stopped = true;
      await stop();
    },
  };
}
