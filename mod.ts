/**
 * legoemu: a split-kernel OS emulator for disaggregated datacenters (the LegoOS model).
 *
 * A process runs on a processor component whose memory accesses go through a cache and
 * whose misses travel, as messages, to memory components that own its virtual memory;
 * files live on storage components; global managers place everything. Every policy,
 * monitor and transport is a plugin.
 *
 * @example
 * ```ts
 * import { startCluster } from "./mod.ts";
 * const here = (path: string) => new URL(path, import.meta.url).href;
 * const cluster = await startCluster(
 *   decodeURIComponent(new URL("./examples/clusters/1p1m1s.memory.json", import.meta.url).pathname),
 *   { log: () => {} },
 * );
 * const result = await cluster.run(here("./examples/workloads/demo.ts"), ["1"]);
 * if (result.exitCode !== 0 || result.stats.misses === 0) throw new Error("demo failed");
 * await cluster.stop();
 * ```
 *
 * From another directory, import it by path or URL (`import { startCluster } from
 * "/path/to/legoemu/mod.ts"`): it needs no `deno.json` and no flags, since its npm
 * packages are named with full, pinned `npm:` specifiers.
 *
 * Run as a program it is the `legoemu` command line (`deno run -A mod.ts help`).
 *
 * @module
 */

import { bootCluster, type BootOptions, type Cluster } from "./kernel/cluster.ts";
import { runCli } from "./cli/main.ts";
import {
  type ClusterConfigInput,
  loadClusterConfig,
  loadConfigPlugins,
  parseClusterConfig,
  resolvePlugins,
} from "./kernel/config.ts";
import type { PluginRegistry } from "./kernel/plugins.ts";
import { createStockRegistry } from "./plugins/stock.ts";

export * from "./kernel/abi.ts";
export * from "./kernel/errors.ts";
export * from "./kernel/ids.ts";
export * from "./kernel/messages.ts";
export * from "./kernel/codec.ts";
export * from "./kernel/receive_queue.ts";
export * from "./kernel/transport.ts";
export * from "./kernel/rpc.ts";
export * from "./kernel/plugins.ts";
export * from "./kernel/plugin_modules.ts";
export * from "./kernel/config.ts";
export * from "./kernel/clock.ts";
export * from "./kernel/latency.ts";
export * from "./kernel/roofline.ts";
export * from "./kernel/model_time.ts";
export * from "./kernel/model_resource.ts";
export * from "./kernel/model_nic.ts";
export * from "./kernel/model_scheduler.ts";
export * from "./kernel/events.ts";
export * from "./kernel/metrics.ts";
export * from "./kernel/monitor.ts";
export * from "./kernel/process_api.ts";
export * from "./kernel/membership.ts";
export * from "./kernel/cluster.ts";
export { checkCommandLine, formatRunSummary, runCli, runSummary } from "./cli/main.ts";
export type { CliEnvironment, RunSummaryView } from "./cli/main.ts";
export * from "./kernel/component.ts";
export * from "./kernel/component_process.ts";
export * from "./cli/cluster_client.ts";
export * from "./cli/views.ts";
export * from "./cli/supervisor.ts";
export * from "./monitors/manager/mod.ts";
export * from "./kernel/placement.ts";
export * from "./plugins/placement/mod.ts";
export * from "./plugins/replacement/mod.ts";
export * from "./kernel/replacement.ts";
export { latencyModelPlugins } from "./plugins/latency/mod.ts";
export {
  MAX_NAME_BYTES,
  MAX_PATH_BYTES,
  parseStoragePath,
  StorageClient,
  type StorageClientOptions,
  type StoragePath,
  type StorageStat,
} from "./monitors/storage/mod.ts";
export * from "./monitors/manager/control/mod.ts";
export { serveComponentServices } from "./kernel/component_services.ts";
export {
  type AddressSpaceView,
  type BufferCacheStats,
  memoryMonitorPlugin,
  type MemoryOptions,
  MemoryOptionsSchema,
  type OnFull,
  type PageOwnerCounters,
  PATH_NAMES,
  type PathCost,
  PERSIST_PATHS,
  persistCost,
  type PersistPath,
  type PersistResult,
  persistThroughput,
  PmemClient,
  type PmemClientOptions,
  PmemDamageError,
  type PmemInfo,
  type PmemOptions,
  PmemOptionsSchema,
  type PmemPoolStats,
  StockMemoryMonitor,
} from "./monitors/memory/mod.ts";
export { createMemoryTransport } from "./transports/memory.ts";
export {
  ClusterSecret,
  ComponentKey,
  type ConnectionStats,
  createTcpTransport,
  formatHostPort,
  type HostPort,
  MIN_SECRET_BYTES,
  parseHostPort,
  readSecretFile,
  type SecretFile,
  type TcpAttachOptions,
  type TcpEndpoint,
  type TcpEndpointStats,
  type TcpManager,
  type TcpTransport,
  type TcpTransportOptions,
} from "./transports/tcp/mod.ts";
export {
  TcpTransportOptionsSchema,
  tcpTransportPlugin,
  type TcpTransportPluginOptions,
} from "./transports/tcp/plugin.ts";
export type {
  MemoryEndpoint,
  MemoryEndpointStats,
  MemoryTransport,
  MemoryTransportOptions,
} from "./transports/memory.ts";
export {
  CompletionError,
  createRdmaTransport,
  type EndpointSettings,
  RDMA_DEFAULTS,
  type RdmaEndpoint,
  type RdmaMode,
  type RdmaTransport,
  type RdmaTransportOptions,
  RdmaUnavailableError,
  type ReceiveMemory,
  VerbsError,
} from "./transports/rdma/mod.ts";
export {
  openRdmaTransportPlugin,
  RdmaTransportOptionsSchema,
  rdmaTransportPlugin,
  type RdmaTransportPluginOptions,
} from "./transports/rdma/plugin.ts";
export { createStockRegistry, STOCK_PLUGINS } from "./plugins/stock.ts";

/** Options for {@link startCluster}. */
export interface StartOptions extends BootOptions {
  /** Registry to resolve plugins from (default: a fresh stock registry). */
  registry?: PluginRegistry;
}

/**
 * Boots a cluster in this process from a config file path or a config object.
 *
 * @example
 * ```ts ignore
 * const cluster = await startCluster({
 *   components: [
 *     { id: "gm", role: "manager" },
 *     { id: "p0", role: "processor" },
 *     { id: "m0", role: "memory" },
 *     { id: "s0", role: "storage" },
 *   ],
 * });
 * await cluster.stop();
 * ```
 */
export async function startCluster(
  config: string | ClusterConfigInput,
  options: StartOptions = {},
): Promise<Cluster> {
  const registry = options.registry ?? createStockRegistry();
  let resolved;
  if (typeof config === "string") resolved = await loadClusterConfig(config, registry);
  else {
    const parsed = parseClusterConfig(config);
    await loadConfigPlugins(parsed, registry);
    resolved = resolvePlugins(parsed, registry);
  }
  return await bootCluster(resolved, registry, options);
}

if (import.meta.main) {
  const here = (path: string) => new URL(path, import.meta.url);
  const demo = {
    config: decodeURIComponent(here("./examples/clusters/1p1m1s.memory.json").pathname),
    workload: here("./examples/workloads/demo.ts").href,
  };
  // No top-level await here: workloads import this module, and a module still awaiting
  // at the top level would make their import wait for the workload itself.
  const entry = decodeURIComponent(here("./mod.ts").pathname);
  runCli(Deno.args, { registry: createStockRegistry(), demo, entry }).then((code) =>
    Deno.exit(code)
  );
}
