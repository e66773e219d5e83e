import assert from "node:assert/strict";
import { startCluster } from "../../../mod.ts";

const demo = new URL("../../../examples/workloads/demo.ts", import.meta.url).href;

/** The demo with 4 threads over 2 MiB through a 256 KiB ExCache, with `seed`. */
async function run(seed: number | undefined) {
  const cluster = await startCluster({
    ...(seed === undefined ? {} : { seed }),
    components: [
      { id: "gm", role: "manager" },
      { id: "p0", role: "processor", options: { cacheBytes: 256 * 1024, ways: 8 } },
      { id: "m0", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  }, { log: () => {} });
  try {
    const result = await cluster.run(demo, ["2", "4"]);
    assert.equal(result.exitCode, 0, result.error);
    const stats = Object.fromEntries(
      Object.entries(result.stats).filter(([name]) => !name.endsWith("wallNs")),
    );
    return JSON.stringify({ modelNs: result.modelNs, stats });
  } finally {
    await cluster.stop();
  }
}

Deno.test("deterministic mode: the same seed gives byte-identical counters and model time; other seeds differ", async () => {
  const first = await run(7);
  const second = await run(7);
  assert.equal(second, first);
  assert.ok(JSON.parse(first).stats.threads === 4);
  const others = [await run(8), await run(9)].map((o) => o.replace(/"model.seed":\d+/, ""));
  const firstNoSeed = first.replace(/"model.seed":\d+/, "");
  assert.ok(others.some((o) => o !== firstNoSeed), "another seed orders ties differently");
});
