/**
 * Issue 18, memory replication: a memory component killed abruptly (endpoint closed) at a
 * point that changes every iteration — early or late, the process's home or only an
 * owner of some of its vRegions — while a two-thread process writes through it; its
 * secondary takes over and the process ends without an error, every acknowledged write
 * intact. `deno task stress` runs it many times.
 */

import assert from "node:assert/strict";
import { startCluster } from "../../mod.ts";
import type { ClusterEvent } from "../../kernel/events.ts";
import { repeat } from "./stress.ts";

const workload = new URL("../workloads/replica_writes.ts", import.meta.url).href;

Deno.test("stress: a memory component killed anywhere in a run fails over without losing an acknowledged write", async () => {
  await repeat("replica failover", async (i) => {
    const victim = i % 2 === 0 ? "m0" : "m1"; // m0 homes the process; m1 owns vRegions only
    const killAfter = 20 + ((i * 7919) % 250); // flushes the victim served first
    const cluster = await startCluster({
      name: "replica-stress",
      components: [
        {
          id: "gm",
          role: "manager",
          options: { heartbeatMs: 30, missedHeartbeats: 3, vregionBytes: 64 * 1024 },
        },
        { id: "p0", role: "processor", options: { cacheBytes: 16 * 4096 } },
        { id: "m0", role: "memory", options: { dramBytes: 8 << 20, secondary: "m1" } },
        { id: "m1", role: "memory", options: { dramBytes: 8 << 20, secondary: "m0" } },
        { id: "s0", role: "storage" },
      ],
    }, { log: () => {} });
    const failovers: ClusterEvent[] = [];
    cluster.events.subscribe((e) => failovers.push(e), { type: "failover" });
    try {
      const run = cluster.run(workload, ["24", "12", "2"], { threads: 2 });
      const monitor = cluster.monitors.get(victim)!;
      let killed = false;
      const kill = (async () => {
        while (!killed && (monitor.stats().flushes as number) < killAfter) {
          await new Promise((r) => setTimeout(r, 2));
        }
        if (!killed) await cluster.rpc.get(victim)!.close();
        killed = true;
      })();
      const result = await run;
      const raced = !killed; // the run ended before the kill point: nothing to check
      killed = true;
      await kill;
      assert.equal(result.error ?? "", "", `kill of ${victim} after ${killAfter} flushes`);
      assert.equal(result.exitCode, 0, `${result.exitCode} pages lost (${victim}, ${killAfter})`);
      if (!raced) {
        // Its secondary takes over even when the run no longer needed it.
        for (let waited = 0; failovers.length === 0 && waited < 10_000; waited += 10) {
          await new Promise((r) => setTimeout(r, 10));
        }
        assert.deepEqual(failovers.map((e) => e.component), [victim]);
      }
    } finally {
      await cluster.stop();
    }
  });
});
