/**
 * The contract suite every monitor passes (stock or user-written), for the four kinds
 * `processor-monitor`, `memory-monitor`, `storage-monitor` and `manager-monitor`: call
 * {@link runMonitorContract} from a test file with the plugin definition.
 *
 * The suite boots small clusters on the in-memory transport in which the monitor under
 * test plays its role and stock monitors play the others, and checks what a user of the
 * cluster relies on: a process's memory reads back what it wrote, through ExCache misses,
 * evictions and (with small `dramBytes`) swap; files read back what was written; threads
 * share memory; exit codes and failures come back to the caller and the cluster keeps
 * serving; the component joins the managers' view as up; `stats()` answers; `stop()`
 * may be called twice.
 *
 * @example
 * ```ts ignore
 * import { runMonitorContract } from "./monitor_contract.ts";
 * import { memoryMonitorPlugin } from "../monitors/memory/mod.ts";
 * runMonitorContract(memoryMonitorPlugin, { options: { dramBytes: 1 << 20 } });
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import { bootCluster, type Cluster } from "../kernel/cluster.ts";
import { type ClusterConfigInput, parseClusterConfig, resolvePlugins } from "../kernel/config.ts";
import type { Role } from "../kernel/ids.ts";
import type { Monitor } from "../kernel/monitor.ts";
import type { PluginDefinition, PluginKind } from "../kernel/plugins.ts";
import { createStockRegistry } from "../plugins/stock.ts";

/** How to run the monitor contract. */
export interface MonitorContractOptions {
  /** Options for the monitor under test (default `{}`). */
  options?: Record<string, unknown>;
  /** KiB the memory check maps (default 2048: 32 times the suite's 64 KiB ExCache). */
  memoryKiB?: number;
  /** Other plugins the monitor needs registered (e.g. its own policies). */
  plugins?: readonly PluginDefinition<unknown, unknown, unknown>[];
}

const WORKLOAD = new URL("./workloads/contract_workload.ts", import.meta.url).href;
const ROLES: Record<string, Role> = {
  "processor-monitor": "processor",
  "memory-monitor": "memory",
  "storage-monitor": "storage",
  "manager-monitor": "manager",
};

/**
 * Registers the contract tests for a monitor plugin.
 *
 * @example
 * ```ts ignore
 * import { runMonitorContract } from "./monitor_contract.ts";
 * runMonitorContract(myCompressingMemoryMonitor, { options: { dramBytes: 262144 } });
 * ```
 */
export function runMonitorContract(
  // deno-lint-ignore no-explicit-any
  plugin: PluginDefinition<any, Monitor, any>,
  contract: MonitorContractOptions = {},
): void {
  const role = ROLES[plugin.kind];
  const name = plugin.name;
  const memoryKiB = contract.memoryKiB ?? 2048;
  const id = { processor: "p0", memory: "m0", storage: "s0", manager: "gm" }[role];

  /** Boots a cluster in which component `id` runs the plugin under test. */
  async function boot(): Promise<Cluster> {
    const registry = createStockRegistry();
    const stock = registry.has(plugin.kind as PluginKind, name);
    if (!stock) registry.register(plugin);
    for (const extra of contract.plugins ?? []) registry.register(extra);
    // The processor's ExCache is small (64 KiB, 4 ways) so that the memory check misses
    // and evicts; options given for a processor under test override that.
    const small = { cacheBytes: 65536, ways: 4 };
    const component = (componentId: string, r: Role, options: Record<string, unknown> = {}) =>
      r === role
        ? { id: componentId, role: r, plugin: name, options: { ...options, ...contract.options } }
        : { id: componentId, role: r, options };
    const config: ClusterConfigInput = {
      name: `contract-${name}`,
      components: [
        component("gm", "manager"),
        component("p0", "processor", small),
        component("m0", "memory"),
        component("s0", "storage"),
      ],
    };
    const resolved = resolvePlugins(parseClusterConfig(config), registry);
    return await bootCluster(resolved, registry, { log: () => {} });
  }

  const test = (title: string, body: (cluster: Cluster) => Promise<void>) =>
    Deno.test(`${name} (${role} monitor): ${title}`, async () => {
      const cluster = await boot();
      try {
        await body(cluster);
      } finally {
        await cluster.stop();
      }
    });

  Deno.test(`${name}: the plugin is a ${role} monitor`, () => {
    assert.ok(role, `kind ${plugin.kind} is not a monitor kind`);
  });

  test("a process's memory reads back what it wrote", async (cluster) => {
    const result = await cluster.run(WORKLOAD, ["memory", String(memoryKiB)]);
    assert.equal(result.exitCode, 0, result.error);
    assert.ok(result.stats.misses > 0, "the memory check never missed the ExCache");
    assert.ok(result.stats.evictions > 0, "the memory check never evicted a line");
  });

  test("a file reads back what was written", async (cluster) => {
    const result = await cluster.run(WORKLOAD, ["file", "a"]);
    assert.equal(result.exitCode, 0, result.error);
  });

  test("threads of a process share its memory", async (cluster) => {
    const result = await cluster.run(WORKLOAD, ["threads", "3"], { threads: 4 });
    assert.equal(result.exitCode, 0, result.error);
  });

  test("exit codes and failures come back, and the cluster keeps serving", async (cluster) => {
    assert.equal((await cluster.run(WORKLOAD, ["exit", "3"])).exitCode, 3);
    const failed = await cluster.run(WORKLOAD, ["throw"]);
    assert.notEqual(failed.exitCode, 0);
    assert.match(failed.error ?? "", /thrown on purpose/);
    const after = await cluster.run(WORKLOAD, ["memory", "256"]);
    assert.equal(after.exitCode, 0, after.error);
  });

  test("joins the managers' view, answers stats() and stops twice", async (cluster) => {
    const component = cluster.manager.snapshot().components.find((c) => c.id === id);
    assert.ok(component, `${id} is not in the managers' snapshot`);
    assert.equal(component.role, role);
    assert.equal(component.state, "up");
    const monitor = cluster.monitors.get(id)!;
    assert.equal(monitor.role, role);
    const stats = monitor.stats();
    assert.ok(stats !== null && typeof stats === "object", "stats() is not an object");
    if (role !== "manager") {
      await monitor.stop();
      await monitor.stop();
    }
  });
}
