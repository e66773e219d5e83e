import assert from "node:assert/strict";
import { type Cluster, type ClusterConfigInput, startCluster } from "../../../mod.ts";
import { within } from "../../within.ts";

const workload = (name: string) => new URL(`../../workloads/${name}`, import.meta.url).href;

function config(processor: Record<string, unknown>): ClusterConfigInput {
  return {
    components: [
      { id: "gm", role: "manager" },
      { id: "p0", role: "processor", options: processor },
      { id: "m0", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  };
}

async function withCluster<T>(
  processor: Record<string, unknown>,
  body: (cluster: Cluster) => Promise<T>,
): Promise<T> {
  const cluster = await startCluster(config(processor), { log: () => {} });
  try {
    return await body(cluster);
  } finally {
    await cluster.stop();
  }
}

Deno.test("4 threads incrementing a shared counter with fetchAdd end at the exact total", async () => {
  await withCluster({ cacheBytes: 1 << 20 }, async (cluster) => {
    const result = await cluster.run(workload("counter.ts"), ["4", "5000"]);
    assert.equal(result.exitCode, 0, result.error ?? "wrong total");
    assert.equal(result.stats.threads, 4);
    for (const tid of [0, 1, 2, 3]) {
      const accesses = result.stats[`thread${tid}.hits`] + result.stats[`thread${tid}.misses`];
      assert.ok(accesses >= 5000, `thread ${tid}: ${accesses} accesses`);
    }
  });
});

Deno.test("a compare-exchange spinlock and fetchAdd stay exact while the counter's line is evicted and refetched", async () => {
  await withCluster({ cacheBytes: 4 * 4096, ways: 2 }, async (cluster) => {
    const result = await cluster.run(workload("counter.ts"), ["4", "150", "lock", "3"]);
    assert.equal(result.exitCode, 0, result.error ?? "wrong total");
    assert.ok(result.stats.pagesFetched > 0, "the counter line should travel to memory and back");
  });
});

Deno.test("a thread spinning on hits gives its line back whenever another thread needs the slot", async () => {
  await withCluster({ cacheBytes: 4096, ways: 1 }, async (cluster) => {
    const result = await within(
      cluster.run(workload("threads.ts"), ["evict"]),
      60_000,
      "a thread spinning on hits, which must give its line back,",
    );
    assert.equal(result.exitCode, 3, result.error);
    assert.ok(result.stats.evictions >= 20, `${result.stats.evictions} evictions`);
  });
});

Deno.test("schedYield() is a round trip with no model time; threads waiting on each other with it both go on", async () => {
  await withCluster({ cacheBytes: 1 << 20 }, async (cluster) => {
    const result = await within(
      cluster.run(workload("threads.ts"), ["yield"]),
      60_000,
      "two threads yielding while they wait for each other",
    );
    assert.equal(result.exitCode, 5, result.error ?? "yields cost model time or messages");
    assert.equal(result.stats.threads, 2);
  });
});

Deno.test("a joined thread's model time carries over to the joiner; the process takes the longest", async () => {
  await withCluster({}, async (cluster) => {
    const result = await cluster.run(workload("threads.ts"), ["join"]);
    assert.equal(result.exitCode, 42);
    assert.ok(result.modelNs >= 5_000_000, `${result.modelNs}`);
    assert.ok(result.modelNs < 5_500_000, `${result.modelNs}`);
    assert.ok(result.stats["thread0.modelNs"] >= result.stats["thread1.modelNs"]);
  });
});

Deno.test("four threads missing on the same written-back line cause one fetch", async () => {
  await withCluster({ cacheBytes: 8 * 4096, ways: 8, replacement: "fifo" }, async (cluster) => {
    const m0 = cluster.rpc.get("m0")!;
    const result = await cluster.run(workload("threads.ts"), ["shared"]);
    assert.equal(result.exitCode, 0, result.error);
    assert.equal(result.stats.pagesFetched, 1);
    assert.ok(m0.stats().requestsHandled > 0);
  });
});

Deno.test("a thread that throws ends its process with the error; the joiner is stopped", async () => {
  await withCluster({}, async (cluster) => {
    const result = await cluster.run(workload("threads.ts"), ["throw"]);
    assert.equal(result.exitCode, 1);
    assert.match(result.error ?? "", /thread 1: TypeError: thread bug on purpose/);
  });
});

Deno.test("exit(code) from any thread ends the process with that code", async () => {
  await withCluster({}, async (cluster) => {
    const result = await cluster.run(workload("threads.ts"), ["exit"]);
    assert.equal(result.exitCode, 7);
    assert.equal(result.error, undefined);
  });
});

Deno.test("spawning an export that does not exist fails clearly", async () => {
  await withCluster({}, async (cluster) => {
    const result = await cluster.run(workload("threads.ts"), ["no-entry"]);
    assert.equal(result.exitCode, 1);
    assert.match(result.error ?? "", /ENOEXEC.*exports no function "noSuchExport"/);
  });
});

Deno.test("threads spawned one after another reuse the Worker of one that returned", async () => {
  await withCluster({}, async (cluster) => {
    const result = await cluster.run(workload("thread_pool.ts"), ["6"]);
    // One Worker ran all six rounds' threads (its module's count reached 6).
    assert.equal(result.exitCode, 6, result.error);
    assert.equal(result.stats.threads, 7);
  });
});

Deno.test("a thread that fails in a reused Worker fails its process as in a new one", async () => {
  await withCluster({}, async (cluster) => {
    const result = await cluster.run(workload("thread_pool.ts"), ["4", "fail"]);
    assert.equal(result.exitCode, 1);
    assert.match(result.error ?? "", /thrown in a reused Worker/);
    // The cluster goes on: a new process runs normally afterwards.
    const again = await cluster.run(workload("thread_pool.ts"), ["3"]);
    assert.equal(again.exitCode, 3, again.error);
  });
});
