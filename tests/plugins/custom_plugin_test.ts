import assert from "node:assert/strict";
import { createStockRegistry, PluginError, startCluster } from "../../mod.ts";
import { flatLatencyPlugin } from "../../examples/plugins/flat_latency.ts";

Deno.test("a user latency plugin registers beside the stock ones and charges model time", async () => {
  const registry = createStockRegistry().register(flatLatencyPlugin);
  const cluster = await startCluster({
    latencyModel: { plugin: "flat", options: { rpcNs: 5000, gflops: 7 } },
    components: [
      { id: "gm", role: "manager" },
      { id: "p0", role: "processor", options: { cacheBytes: 16384 } },
      { id: "m0", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  }, { registry, log: () => {} });
  try {
    const result = await cluster.run(
      new URL("../workloads/pattern.ts", import.meta.url).href,
      ["16"],
    );
    assert.equal(result.exitCode, 0);
    assert.equal(cluster.latency.name, "flat");
    // Every message costs 5 µs, the process's own and those the memory component sends on
    // its behalf; hits cost nothing of their own and nothing else is charged.
    assert.ok(result.stats.hits > 0);
    assert.equal(result.modelNs % 5000, 0);
    assert.ok(result.modelNs >= result.stats.messages * 5000, `${result.modelNs}`);
    assert.ok(result.modelNs <= result.stats.messages * 2 * 5000, `${result.modelNs}`);
  } finally {
    await cluster.stop();
  }
});

Deno.test("registering the same user plugin twice is an error", () => {
  const registry = createStockRegistry().register(flatLatencyPlugin);
  assert.throws(() => registry.register(flatLatencyPlugin), (e: unknown) => {
    assert.ok(e instanceof PluginError);
    assert.equal(e.code, "DUPLICATE_PLUGIN");
    return true;
  });
});
