/**
 * Memory replication with failover across OS processes over TCP: the primary memory
 * component (its own process) is killed with SIGKILL while a two-thread process writes
 * through it; the managers promote its secondary (another process), the processor
 * re-routes, and the process ends without an error, every acknowledged write intact.
 */

import assert from "node:assert/strict";
import { startComponentProcess } from "../../../kernel/component_process.ts";
import type { ManagerMonitor } from "../../../kernel/monitor.ts";
import { RpcNode } from "../../../kernel/rpc.ts";
import { createStockRegistry } from "../../../plugins/stock.ts";
import { createTcpTransport } from "../../../transports/tcp/mod.ts";
import { componentArgs, spawnComponent, startTcpManager } from "../../tcp_manager.ts";
import { within } from "../../within.ts";

const workload = new URL("../../workloads/replica_writes.ts", import.meta.url).href;

Deno.test("SIGKILL of a primary memory process under a running workload: the secondary takes over, nothing acknowledged is lost", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-replica-" });
  const secretFile = `${dir}/cluster.secret`;
  await Deno.writeTextFile(secretFile, "0123456789abcdef0123456789abcdef\n", { mode: 0o600 });
  const registry = createStockRegistry();
  const logs: string[] = [];
  const log = (id: string, line: string) => logs.push(`[${id}] ${line}`);
  const gm = await startTcpManager("replica-tcp", registry, secretFile, log, {
    heartbeatMs: 100,
    missedHeartbeats: 3,
    vregionBytes: 64 * 1024,
  });
  const common = (id: string, role: string, options: unknown) =>
    componentArgs(id, role, gm, secretFile, options);
  const [m0, m1, s0] = await Promise.all([
    spawnComponent(common("m0", "memory", { dramBytes: 8 << 20, secondary: "m1" })),
    spawnComponent(common("m1", "memory", { dramBytes: 8 << 20 })),
    spawnComponent(common("s0", "storage", { root: `${dir}/s0` })),
  ]);
  const p0 = await startComponentProcess(
    {
      cluster: "replica-tcp",
      component: {
        id: "p0",
        role: "processor",
        kind: "processor-monitor",
        plugin: "processor",
        options: registry.parseOptions("processor-monitor", "processor", {
          cacheBytes: 16 * 4096,
        }, "options"),
      },
      transport: { kind: "transport", plugin: "tcp", options: { pingIntervalMs: 0 } },
      latencyModel: { kind: "latency-model", plugin: "legoos-ib", options: {} },
      manager: { id: "gm", address: gm.addresses.tcp },
      listen: "127.0.0.1:0",
      secretFile,
    },
    registry,
    log,
  );
  const transport = createTcpTransport({ log: () => {}, reconnectTimeoutMs: 300, secretFile });
  const client = new RpcNode(
    await transport.attach("c0", {
      listen: null,
      manager: { id: "gm", address: gm.addresses.tcp },
    }),
  );
  try {
    const run = client.call("gm", "MGR_SPAWN", {
      workload,
      args: ["48", "60", "2"],
      threads: 2,
    }, { timeoutMs: 120_000 });
    // Killed once it has served a good share of the run's flushes.
    for (;;) {
      const { result } = await client.call("m0", "MGR_QUERY", { what: "stats", args: {} });
      if ((result as { flushes: number }).flushes > 800) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    m0.child.kill("SIGKILL");
    assert.equal((await m0.child.status).signal, "SIGKILL");
    const result = await within(run, 60_000, "the workload after the kill");
    assert.equal(result.error, "", logs.join("\n"));
    assert.equal(result.exitCode, 0, `${result.exitCode} pages did not read back intact`);
    assert.equal(result.home, "m0", "the process was homed on the killed primary");
    const manager = gm.booted.monitor as ManagerMonitor;
    const snapshot = manager.snapshot();
    const failover = (snapshot.events ?? []).filter((e) => e.type === "failover");
    assert.equal(failover.length, 1, logs.join("\n"));
    assert.equal(failover[0].data?.primary, "m0");
    assert.equal(failover[0].data?.secondary, "m1");
    assert.equal(snapshot.components.find((c) => c.id === "m0")?.successor, "m1");
    const { result: stats } = await client.call("p0", "MGR_QUERY", { what: "stats", args: {} });
    const routing = (stats as { replication: { rerouted: number; replicatedFlushes: number } })
      .replication;
    assert.ok(routing.replicatedFlushes > 0);
  } finally {
    await client.close();
    await transport.close();
    await p0.stop();
    for (const c of [m0, m1, s0]) await c.kill();
    await gm.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
