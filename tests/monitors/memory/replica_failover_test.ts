/**
 * Memory replication with failover, in one process over the in-memory transport: a
 * primary memory component stopped abruptly (its endpoint closed, no graceful shutdown)
 * while a process writes through it; the secondary takes over and the process finishes
 * without an error, reading back every write it had acknowledged.
 */

import assert from "node:assert/strict";
import { type ClusterConfigInput, startCluster } from "../../../mod.ts";
import type { ClusterEvent } from "../../../kernel/events.ts";

const workload = new URL("../../workloads/replica_writes.ts", import.meta.url).href;

export function replicatedConfig(secondary: boolean): ClusterConfigInput {
  return {
    name: "replica",
    components: [
      {
        id: "gm",
        role: "manager",
        options: { heartbeatMs: 30, missedHeartbeats: 3, vregionBytes: 64 * 1024 },
      },
      { id: "p0", role: "processor", options: { cacheBytes: 16 * 4096 } },
      {
        id: "m0",
        role: "memory",
        options: { dramBytes: 8 << 20, ...(secondary ? { secondary: "m1" } : {}) },
      },
      { id: "m1", role: "memory", options: { dramBytes: 8 << 20, replicaBackupMs: 50 } },
      { id: "s0", role: "storage" },
    ],
  };
}

async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("a primary memory component killed mid-run fails over to its secondary; no acknowledged write is lost", async () => {
  const cluster = await startCluster(replicatedConfig(true), { log: () => {} });
  const failovers: ClusterEvent[] = [];
  cluster.events.subscribe((e) => failovers.push(e), { type: "failover" });
  try {
    const run = cluster.run(workload, ["48", "40"]);
    const m0 = cluster.monitors.get("m0")!;
    // Killed once it has served a good share of the run's flushes (the run is ~4000).
    await until("flushes on m0", () => (m0.stats().flushes as number) > 600);
    const m1 = cluster.monitors.get("m1")!;
    const replica = (m1.stats().replication as { replicas: { flushes: number }[] }).replicas;
    assert.ok(replica.length === 1 && replica[0].flushes > 0, "m1 keeps m0's replica");
    await cluster.rpc.get("m0")!.close(); // abrupt: no monitor stop, no goodbye
    const result = await run;
    assert.equal(result.error ?? "", "");
    assert.equal(result.exitCode, 0, `${result.exitCode} pages did not read back intact`);
    assert.equal(failovers.length, 1);
    assert.equal(failovers[0].component, "m0");
    assert.equal(failovers[0].data?.secondary, "m1");
    assert.ok((failovers[0].data?.pages as number) > 0);
    const snapshot = cluster.manager.snapshot();
    const record = snapshot.components.find((c) => c.id === "m0")!;
    assert.equal(record.state, "down");
    assert.equal(record.successor, "m1");
    assert.ok(snapshot.vregions.every((v) => v.owner !== "m0"), "m0 owns nothing any more");
    const promoted = (m1.stats().replication as { promotions: { primary: string }[] })
      .promotions;
    assert.deepEqual(promoted.map((p) => p.primary), ["m0"]);
    // The secondary copied its log to storage in the background meanwhile.
    const backup = await cluster.rpc.get("p0")!.call("s0", "P2S_STAT", {
      path: "@replica/m0.log",
    });
    assert.ok(backup.size >= 4096 + 16, `backup of ${backup.size} bytes`);
  } finally {
    await cluster.stop();
  }
});

Deno.test("with first-touch placement, vRegions touched after the home died are placed by its successor", async () => {
  const config = replicatedConfig(true);
  const manager = config.components[0];
  manager.options = { ...manager.options, vregionPlacementAt: "first-touch" };
  const cluster = await startCluster(config, { log: () => {} });
  try {
    const run = cluster.run(workload, ["48", "10"]);
    const m0 = cluster.monitors.get("m0")!;
    // Early: most of the process's vRegions are still untouched (region B is written later).
    await until("flushes on m0", () => (m0.stats().flushes as number) >= 20);
    await cluster.rpc.get("m0")!.close();
    const result = await run;
    assert.equal(result.error ?? "", "");
    assert.equal(result.exitCode, 0, `${result.exitCode} pages did not read back intact`);
    const owners = new Set(cluster.manager.snapshot().vregions.map((v) => v.owner));
    assert.ok(!owners.has("m0"), "everything placed after the kill went elsewhere");
  } finally {
    await cluster.stop();
  }
});
