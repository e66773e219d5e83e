import assert from "node:assert/strict";
import { type Cluster, startCluster } from "../../../mod.ts";

const workload = (name: string) => new URL(`../../workloads/${name}`, import.meta.url).href;

async function boot(log: string[]): Promise<Cluster> {
  return await startCluster({
    components: [
      { id: "gm", role: "manager" },
      {
        id: "p0",
        role: "processor",
        options: { cacheBytes: 4 * 4096, ways: 4, replacement: "fifo" },
      },
      { id: "m0", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  }, { log: (_, message) => log.push(message) });
}

function phases(log: string[]): Record<string, Record<string, number>> {
  return Object.fromEntries(
    log.filter((l) => l.includes("phase ")).map((l) => {
      const [, name, json] = l.match(/phase (\w+) (.*)$/)!;
      return [name, JSON.parse(json)];
    }),
  );
}

Deno.test("p-local lines cost no message until their first dirty eviction; a piggybacked miss is one round trip", async () => {
  const log: string[] = [];
  const cluster = await boot(log);
  try {
    const m0 = cluster.rpc.get("m0")!;
    const before = m0.stats().requestsHandled;
    const result = await cluster.run(workload("plocal.ts"));
    assert.equal(result.exitCode, 0, result.error);
    const { start, read, write, refetch } = phases(log);
    const delta = (a: Record<string, number>, b: Record<string, number>, k: string) => b[k] - a[k];

    // Reading 16 never-written pages through 4 lines: 16 zero-fills, 12 evictions, no message.
    assert.equal(delta(start, read, "misses"), 16);
    assert.equal(delta(start, read, "pLocalZeroFills"), 16);
    assert.equal(delta(start, read, "messages"), 0);
    assert.equal(delta(start, read, "evictions"), 12);

    // Writing pages 0-7: zero-filled again; the 4 dirty ones evicted meanwhile are written
    // back alone (nothing to fetch), plus one vRegion lookup before the first write-back.
    assert.equal(delta(read, write, "pLocalZeroFills"), 8);
    assert.equal(delta(read, write, "pagesFetched"), 0);
    assert.equal(delta(read, write, "dirtyFlushes"), 4);
    assert.equal(delta(read, write, "messages"), 4 + 1);

    // Page 0 was written back, so now it is fetched; dirty page 4 rides along: one message.
    assert.equal(delta(write, refetch, "pagesFetched"), 1);
    assert.equal(delta(write, refetch, "piggybacked"), 1);
    assert.equal(delta(write, refetch, "messages"), 1);

    // The memory component saw exactly: fork, mmap, 4 write-backs, 1 flush+fetch, exit.
    assert.equal(m0.stats().requestsHandled - before, 1 + 1 + 4 + 1 + 1);
  } finally {
    await cluster.stop();
  }
});
