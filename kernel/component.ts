/**
 * Booting one component: attach it to the transport, wrap its endpoint in an RPC node,
 * build its {@link MonitorContext}, create its monitor by name from the registry, serve
 * the control messages every component answers, and start the monitor.
 *
 * `bootCluster` does this for every component of a config inside one process;
 * `legoemu component` does it for a single component in its own OS process. Both go
 * through {@link bootComponent}, so a component behaves the same either way.
 *
 * @module
 */

import { type Clock, WallClock } from "./clock.ts";
import { serveComponentServices } from "./component_services.ts";
import type { ResolvedComponentConfig } from "./config.ts";
import { EventBus } from "./events.ts";
import type { ComponentId, Role } from "./ids.ts";
import type { LatencyModel } from "./latency.ts";
import type { ModelTimeScheduler } from "./model_scheduler.ts";
import { MetricsRegistry } from "./metrics.ts";
import type { Monitor, MonitorContext } from "./monitor.ts";
import type { PluginRegistry } from "./plugins.ts";
import { RpcNode } from "./rpc.ts";
import type { AttachOptions, Transport, TransportEndpoint } from "./transport.ts";

/** What every component of a process shares. */
export interface ComponentEnvironment {
  /** The cluster's name (from its config). */
  cluster: string;
  /** The transport to attach to. */
  transport: Transport;
  /** The latency model charging model time. */
  latency: LatencyModel;
  /** Wall clock. */
  wallClock: Clock;
  /** Cluster events. */
  events: EventBus;
  /** Metrics. */
  metrics: MetricsRegistry;
  /** The registry the monitor is created from. */
  registry: PluginRegistry;
  /** The id of the global manager component. */
  manager: ComponentId;
  /** Where log lines go. */
  log: (component: ComponentId, message: string) => void;
  /**
   * Deterministic mode's scheduler, shared by the components of this process, or a function
   * making one from the component's RPC node (a processor's `RemoteScheduler`).
   */
  scheduler?: ModelTimeScheduler | ((rpc: RpcNode) => ModelTimeScheduler);
}

/** Per-component boot options. */
export interface ComponentBootOptions {
  /** Transport-specific attach options (e.g. `listen`, `manager`, `secretFile`). */
  attachOptions?: AttachOptions;
  /** What a `MGR_STOP` control message does (fault injection). */
  stop: () => Promise<void>;
}

/** A booted, started component. */
export interface BootedComponent {
  /** Its id. */
  readonly id: ComponentId;
  /** Its role. */
  readonly role: Role;
  /** Its monitor. */
  readonly monitor: Monitor;
  /** Its RPC node. */
  readonly rpc: RpcNode;
  /** Its transport endpoint. */
  readonly endpoint: TransportEndpoint;
}

/** The parts of a {@link MonitorContext}; clocks, events, metrics and log have defaults. */
export interface MonitorContextParts {
  /** The component id. */
  id: ComponentId;
  /** The component role. */
  role: Role;
  /** The manager's id. */
  manager: ComponentId;
  /** The component's RPC node. */
  rpc: RpcNode;
  /** Its transport endpoint. */
  endpoint: TransportEndpoint;
  /** The latency model. */
  latency: LatencyModel;
  /** The plugin registry. */
  registry: PluginRegistry;
  /** The cluster's name. */
  cluster?: string;
  /** Wall clock (default: a new one). */
  wallClock?: Clock;
  /** Events (default: a new bus). */
  events?: EventBus;
  /** Metrics (default: a new registry). */
  metrics?: MetricsRegistry;
  /** Log lines (default: dropped). */
  log?: (message: string) => void;
  /** Deterministic mode's scheduler (default: none, free-running). */
  scheduler?: ModelTimeScheduler;
}

/**
 * A monitor's context from its parts: the one place that builds a {@link MonitorContext},
 * for {@link bootComponent} and for tests and benchmarks that wire monitors by hand.
 *
 * @example
 * ```ts ignore
 * const context = createMonitorContext({ id: "s0", role: "storage", manager: "gm", rpc,
 *   endpoint, latency, registry });
 * ```
 */
export function createMonitorContext(parts: MonitorContextParts): MonitorContext {
  parts.rpc.chargeWith(parts.latency); // calls made while serving a request charge their round trip
  return {
    id: parts.id,
    role: parts.role,
    manager: parts.manager,
    cluster: parts.cluster,
    rpc: parts.rpc,
    endpoint: parts.endpoint,
    latency: parts.latency,
    wallClock: parts.wallClock ?? new WallClock(),
    events: parts.events ?? new EventBus(),
    metrics: parts.metrics ?? new MetricsRegistry(),
    registry: parts.registry,
    log: parts.log ?? (() => {}),
    ...(parts.scheduler ? { scheduler: parts.scheduler } : {}),
  };
}

/**
 * Boots `component` in this process and starts its monitor. On failure it releases what
 * it took (the monitor is stopped, the endpoint closed) and rethrows.
 *
 * @example
 * ```ts ignore
 * const booted = await bootComponent(config.components[0], environment, {
 *   attachOptions: { listen: "127.0.0.1:7101", manager: { id: "gm", address: "127.0.0.1:7000" } },
 *   stop: () => Promise.resolve(),
 * });
 * ```
 */
export async function bootComponent(
  component: ResolvedComponentConfig,
  environment: ComponentEnvironment,
  options: ComponentBootOptions,
): Promise<BootedComponent> {
  const log = (message: string) => environment.log(component.id, message);
  const endpoint = await environment.transport.attach(component.id, options.attachOptions);
  const rpc = new RpcNode(endpoint, {
    onBadFrame: (error, from) => log(`dropped a bad frame from ${from}: ${error.message}`),
  });
  let monitor: Monitor | undefined;
  try {
    const context = createMonitorContext({
      id: component.id,
      role: component.role,
      manager: environment.manager,
      cluster: environment.cluster,
      rpc,
      endpoint,
      latency: environment.latency,
      wallClock: environment.wallClock,
      events: environment.events,
      metrics: environment.metrics,
      registry: environment.registry,
      log,
      scheduler: typeof environment.scheduler === "function"
        ? environment.scheduler(rpc)
        : environment.scheduler,
    });
    monitor = await environment.registry.create<Monitor>(
      component.kind,
      component.plugin,
      component.options,
      context,
    );
    serveComponentServices(rpc, monitor, endpoint, options.stop);
    await monitor.start();
    return { id: component.id, role: component.role, monitor, rpc, endpoint };
  } catch (e) {
    await monitor?.stop().catch((stopError) =>
      log(`stop after a failed start failed: ${(stopError as Error).message}`)
    );
    await rpc.close();
    throw e;
  }
}

/**
 * The addresses a transport endpoint reports (e.g. `{ tcp: "127.0.0.1:7101" }`), or `{}`
 * for a transport without addresses (in-memory).
 *
 * @example
 * ```ts ignore
 * console.log(endpointAddresses(endpoint).tcp);
 * ```
 */
export function endpointAddresses(endpoint: TransportEndpoint): Record<string, string> {
  return { ...endpoint.addresses };
}
