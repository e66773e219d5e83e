/**
 * One component in its own OS process, as LegoOS runs one monitor per server: the
 * transport and latency model this process needs, the component booted through
 * {@link bootComponent} exactly as `bootCluster` boots it, and an orderly stop.
 *
 * The CLI's `legoemu component` command resolves its flags (or a config file) into a
 * {@link ComponentProcessSpec} and calls {@link startComponentProcess}.
 *
 * @module
 */

import { WallClock } from "./clock.ts";
import {
  bootComponent,
  type BootedComponent,
  type ComponentEnvironment,
  endpointAddresses,
} from "./component.ts";
import type { ResolvedComponentConfig, ResolvedPlugin } from "./config.ts";
import { EventBus } from "./events.ts";
import type { ComponentId, Role } from "./ids.ts";
import type { LatencyModel } from "./latency.ts";
import { MetricsRegistry } from "./metrics.ts";
import type { PluginRegistry } from "./plugins.ts";
import type { Transport } from "./transport.ts";
import { ModelScheduler } from "./model_scheduler.ts";
import { RemoteScheduler } from "./remote_scheduler.ts";
import type { RpcNode } from "./rpc.ts";

/** Everything needed to run one component in this process. */
export interface ComponentProcessSpec {
  /** The cluster's name. */
  cluster: string;
  /** The component, its monitor plugin resolved. */
  component: ResolvedComponentConfig;
  /** The transport plugin (a network one: the component talks to other processes). */
  transport: ResolvedPlugin;
  /** The latency-model plugin. */
  latencyModel: ResolvedPlugin;
  /** The manager: its id and, unless this is the manager, where it listens. */
  manager: { id: ComponentId; address?: string };
  /** Where to listen (`host:port`; port 0 picks a free one). Default: the transport's. */
  listen?: string;
  /** File holding the cluster secret. */
  secretFile?: string;
  /**
   * Deterministic mode's seed (the cluster config's `seed`): the manager hosts the cluster's
   * `ModelScheduler`, a processor drives it through a `RemoteScheduler`; the others ignore it.
   */
  seed?: number;
}

/** A component running in this process. */
export interface RunningComponent {
  /** Its id. */
  readonly id: ComponentId;
  /** Its role. */
  readonly role: Role;
  /** Where it can be reached, e.g. `{ tcp: "127.0.0.1:7101" }` (the real port, if 0 was asked). */
  readonly addresses: Readonly<Record<string, string>>;
  /** The booted component (monitor, RPC node, endpoint). */
  readonly booted: BootedComponent;
  /** Resolves once the component has stopped (by {@link RunningComponent.stop} or `MGR_STOP`). */
  readonly stopped: Promise<void>;
  /** Stops the monitor and closes the endpoint and transport. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Creates the transport and latency model, boots the component and starts its monitor.
 *
 * @example
 * ```ts ignore
 * const running = await startComponentProcess({
 *   cluster: "demo", component, transport: { kind: "transport", plugin: "tcp", options: {} },
 *   latencyModel, manager: { id: "gm", address: "127.0.0.1:7000" }, listen: "127.0.0.1:0",
 * }, registry, (id, line) => console.error(`[${id}] ${line}`));
 * console.log(running.addresses.tcp);
 * await running.stop();
 * ```
 */
export async function startComponentProcess(
  spec: ComponentProcessSpec,
  registry: PluginRegistry,
  log: (component: ComponentId, message: string) => void,
): Promise<RunningComponent> {
  const { component } = spec;
  const transport = await registry.create<Transport>(
    "transport",
    spec.transport.plugin,
    spec.transport.options,
    { registry }, // a wrapping transport (fault injection) builds its inner one
  );
  let booted: BootedComponent;
  let resolveStopped = () => {};
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      try {
        await booted?.monitor.stop().catch((e) =>
          log(component.id, `stop failed: ${(e as Error).message}`)
        );
        await booted?.rpc.close();
      } finally {
        await transport.close();
        resolveStopped();
      }
    })();
    return stopping;
  };
  try {
    const latency = await registry.create<LatencyModel>(
      "latency-model",
      spec.latencyModel.plugin,
      spec.latencyModel.options,
      {},
    );
    booted = await bootComponent(component, {
      cluster: spec.cluster,
      transport,
      latency,
      wallClock: new WallClock(),
      events: new EventBus(),
      metrics: new MetricsRegistry(),
      registry,
      manager: spec.manager.id,
      log,
      ...schedulerOf(spec),
    }, {
      attachOptions: {
        listen: spec.listen,
        manager: spec.manager,
        secretFile: spec.secretFile,
        log: (message: string) => log(component.id, `transport: ${message}`),
      },
      stop,
    });
  } catch (e) {
    await transport.close();
    throw e;
  }
  return {
    id: component.id,
    role: component.role,
    addresses: endpointAddresses(booted.endpoint),
    booted,
    stopped,
    stop,
  };
}

/** The scheduler of `spec`'s component in deterministic mode (none for memory and storage). */
function schedulerOf(spec: ComponentProcessSpec): Pick<ComponentEnvironment, "scheduler"> {
  const { seed } = spec;
  if (seed === undefined) return {};
  if (spec.component.role === "manager") return { scheduler: new ModelScheduler(seed) };
  if (spec.component.role !== "processor") return {};
  return { scheduler: (rpc: RpcNode) => new RemoteScheduler(seed, rpc, spec.manager.id) };
}
