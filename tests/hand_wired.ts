/**
 * Monitors wired by hand on the in-memory transport, without `bootComponent`: for tests
 * and benchmarks that hold a monitor object or fake a component's traffic. The registry
 * has the stock manager, storage monitor, latency models and placement policies.
 *
 * @module
 */

import { createMonitorContext } from "../kernel/component.ts";
import { EventBus } from "../kernel/events.ts";
import type { Role } from "../kernel/ids.ts";
import type { LatencyModel } from "../kernel/latency.ts";
import { managerMonitorPlugin } from "../monitors/manager/mod.ts";
import type { Monitor, MonitorContext } from "../kernel/monitor.ts";
import { type PluginKind, PluginRegistry } from "../kernel/plugins.ts";
import { RpcNode } from "../kernel/rpc.ts";
import { storageMonitorPlugin } from "../monitors/storage/mod.ts";
import { latencyModelPlugins } from "../plugins/latency/mod.ts";
import { placementPlugins } from "../plugins/placement/mod.ts";
import { createMemoryTransport, type MemoryTransport } from "../transports/memory.ts";

/** A hand-wired cluster: its parts, and what was made in it. */
export interface HandWired {
  /** The registry monitors are created from. */
  readonly registry: PluginRegistry;
  /** The transport every node attaches to. */
  readonly transport: MemoryTransport;
  /** The `legoos-ib` latency model every context gets. */
  readonly latency: LatencyModel;
  /** The event bus every context gets. */
  readonly events: EventBus;
  /** Attaches `id` and returns its context (manager `gm`); its node is kept for `close`. */
  context(id: string, role: Role): Promise<MonitorContext>;
  /** Creates monitor `id` from `plugin` of `kind`, not started; `close` stops it. */
  create<M extends Monitor = Monitor>(
    id: string,
    kind: PluginKind,
    plugin: string,
    options?: unknown,
  ): Promise<M>;
  /** {@link HandWired.create}, then starts the monitor. */
  boot<M extends Monitor = Monitor>(
    id: string,
    kind: PluginKind,
    plugin: string,
    options?: unknown,
  ): Promise<M>;
  /** A bare RPC node for `id` (a client, no monitor); `close` closes it. */
  node(id: string, timeoutMs?: number): Promise<RpcNode>;
  /** The newest node attached as `id`. */
  rpc(id: string): RpcNode;
  /** The newest monitor created as `id`. */
  monitor<M extends Monitor = Monitor>(id: string): M;
  /** Stops every monitor (newest first), closes every node, then the transport. */
  close(): Promise<void>;
}

/** The role a monitor of `kind` plays. */
function roleOf(kind: PluginKind): Role {
  switch (kind) {
    case "manager-monitor":
      return "manager";
    case "processor-monitor":
      return "processor";
    case "memory-monitor":
      return "memory";
    case "storage-monitor":
      return "storage";
    default:
      throw new Error(`${kind} is not a monitor kind`);
  }
}

/**
 * A new hand-wired cluster; `timeoutMs` is every node's default RPC timeout (the
 * RpcNode default when omitted).
 *
 * @example
 * ```ts ignore
 * const rig = await handWired({ timeoutMs: 2000 });
 * await rig.boot("gm", "manager-monitor", "manager");
 * await rig.boot("s0", "storage-monitor", "storage");
 * const client = await rig.node("p0");
 * await rig.close();
 * ```
 */
export async function handWired(options: { timeoutMs?: number } = {}): Promise<HandWired> {
  const registry = new PluginRegistry().register(managerMonitorPlugin).register(
    storageMonitorPlugin,
  );
  for (const p of [...latencyModelPlugins, ...placementPlugins]) registry.register(p);
  const transport = createMemoryTransport();
  const events = new EventBus();
  const latency = await registry.create<LatencyModel>("latency-model", "legoos-ib", {}, {});
  const rpcOptions = options.timeoutMs === undefined ? {} : { defaultTimeoutMs: options.timeoutMs };
  const nodes: RpcNode[] = [];
  const byId = new Map<string, RpcNode>();
  const monitors: Monitor[] = [];
  const monitorById = new Map<string, Monitor>();
  const keep = (id: string, rpc: RpcNode) => {
    nodes.push(rpc);
    byId.set(id, rpc);
    return rpc;
  };
  const node = async (id: string, timeoutMs?: number) =>
    keep(
      id,
      new RpcNode(
        await transport.attach(id),
        timeoutMs === undefined ? rpcOptions : { defaultTimeoutMs: timeoutMs },
      ),
    );
  const context = async (id: string, role: Role) => {
    const endpoint = await transport.attach(id);
    const rpc = keep(id, new RpcNode(endpoint, rpcOptions));
    return createMonitorContext({
      id,
      role,
      manager: "gm",
      rpc,
      endpoint,
      latency,
      registry,
      events,
    });
  };
  const create = async <M extends Monitor>(
    id: string,
    kind: PluginKind,
    plugin: string,
    monitorOptions: unknown = {},
  ) => {
    const monitor = await registry.create<M>(
      kind,
      plugin,
      monitorOptions,
      await context(id, roleOf(kind)),
    );
    monitors.push(monitor);
    monitorById.set(id, monitor);
    return monitor;
  };
  return {
    registry,
    transport,
    latency,
    events,
    context,
    create,
    async boot<M extends Monitor>(
      id: string,
      kind: PluginKind,
      plugin: string,
      monitorOptions?: unknown,
    ) {
      const monitor = await create<M>(id, kind, plugin, monitorOptions);
      await monitor.start();
      return monitor;
    },
    node,
    rpc(id) {
      const rpc = byId.get(id);
      if (!rpc) throw new Error(`no node attached as ${id}`);
      return rpc;
    },
    monitor<M extends Monitor>(id: string) {
      const monitor = monitorById.get(id);
      if (!monitor) throw new Error(`no monitor created as ${id}`);
      return monitor as M;
    },
    async close() {
      for (const m of [...monitors].reverse()) await m.stop();
      for (const n of nodes) await n.close();
      await transport.close();
    },
  };
}
