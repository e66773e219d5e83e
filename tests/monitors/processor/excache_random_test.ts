import assert from "node:assert/strict";
import { type ClusterConfigInput, startCluster } from "../../../mod.ts";

const workload = new URL("../../workloads/random_access.ts", import.meta.url).href;

interface Geometry {
  lines: number;
  ways: number;
  replacement: string;
  victimLines?: number;
}

function config(g: Geometry): ClusterConfigInput {
  return {
    components: [
      { id: "gm", role: "manager" },
      {
        id: "p0",
        role: "processor",
        options: {
          cacheBytes: g.lines * 4096,
          ways: g.ways,
          replacement: g.replacement,
          victimLines: g.victimLines ?? 0,
        },
      },
      { id: "m0", role: "memory", options: { dramBytes: 16 * 1024 * 1024 } },
      { id: "s0", role: "storage" },
    ],
  };
}

/** Runs the random-access workload; returns the result. */
async function run(g: Geometry, args: (string | number)[]) {
  const cluster = await startCluster(config(g), { log: () => {} });
  try {
    return await cluster.run(workload, args.map(String));
  } finally {
    await cluster.stop();
  }
}

// From one line that evicts on every other access to a cache larger than the data.
const geometries: Geometry[] = [
  { lines: 1, ways: 1, replacement: "lru" },
  { lines: 2, ways: 1, replacement: "fifo" },
  { lines: 3, ways: 3, replacement: "random" },
  { lines: 4, ways: 2, replacement: "lru" },
  { lines: 8, ways: 4, replacement: "fifo", victimLines: 2 },
  { lines: 16, ways: 1, replacement: "random" },
  { lines: 16, ways: 16, replacement: "lru", victimLines: 4 },
  { lines: 64, ways: 64, replacement: "fifo" },
];

for (const [i, g] of geometries.entries()) {
  Deno.test(
    `random loads and stores read back the last write: ${g.lines} lines, ${g.ways}-way, ${g.replacement}${
      g.victimLines ? `, ${g.victimLines}-line victim cache` : ""
    }`,
    async () => {
      const result = await run(g, [100 + i, 1500, 24, 1]);
      assert.equal(result.exitCode, 0, result.error ?? `${result.exitCode} mismatches`);
      assert.ok(result.stats.misses > 0 && result.stats.hits > 0);
      if (g.lines < 10) assert.ok(result.stats.evictions > 0, "a tiny cache must evict");
    },
  );
}

Deno.test("random loads and stores stay exact with 4 threads sharing a tiny cache", async () => {
  const result = await run({ lines: 4, ways: 2, replacement: "lru" }, [7, 800, 6, 4]);
  assert.equal(result.exitCode, 0, result.error ?? `${result.exitCode} mismatches`);
  assert.equal(result.stats.threads, 4);
  assert.ok(result.stats.evictions > 0);
});
