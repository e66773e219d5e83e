import assert from "node:assert/strict";
import { startCluster } from "../../../mod.ts";

const workload = (name: string) => new URL(`../../workloads/${name}`, import.meta.url).href;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("heartbeats carry a running process's hits and live thread count, and stop growing once it ends", async () => {
  const cluster = await startCluster({
    components: [
      { id: "gm", role: "manager", options: { heartbeatMs: 100 } },
      { id: "p0", role: "processor", options: { cacheBytes: 1 << 20 } },
      { id: "m0", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  }, { log: () => {} });
  try {
    const p0 = () => cluster.manager.snapshot().components.find((c) => c.id === "p0")!;
    const hits = () => Number(p0().load.hits ?? 0);
    // Two threads that only hit: they never ask the monitor for anything while they loop.
    const run = cluster.run(workload("hot_loop.ts"), ["3000", "2"]);
    const seen: number[] = [];
    let threads = 0;
    let assigned = 0;
    for (let i = 0; i < 25; i++) {
      await sleep(100);
      seen.push(hits());
      threads = Math.max(threads, cluster.manager.snapshot().processes[0]?.threads ?? 0);
      // Sampled while it runs: on a loaded host the loop can outlast the workload.
      assigned = Math.max(assigned, p0().assigned.threads);
    }
    // 2.5 s of the 3 s run (the threads start within about a second): the heartbeats'
    // hits grew again and again while it ran, not only at its end.
    const rises = seen.slice(1).filter((h, i) => h > seen[i]).length;
    assert.ok(rises >= 3, `hits in heartbeats rose ${rises} times while running: ${seen}`);
    assert.equal(threads, 2, "the managers see both threads");
    assert.equal(assigned, 2, "the manager assigned both threads to p0");
    const result = await run;
    assert.equal(result.exitCode, 0, result.error);
    await sleep(300);
    const settled = hits();
    assert.ok(settled >= result.stats.hits, `${settled} < ${result.stats.hits}`);
    await sleep(300);
    assert.equal(hits(), settled, "an idle processor's counters stay put");
    assert.equal(p0().assigned.threads, 0);
    assert.equal(p0().load.threads, 0);
  } finally {
    await cluster.stop();
  }
});
