import assert from "node:assert/strict";
import { startCluster } from "../../../mod.ts";

const workload = new URL("../../workloads/compute_styles.ts", import.meta.url).href;

async function modelTime(style: string): Promise<{ modelNs: number; hits: number }> {
  const cluster = await startCluster({
    components: [
      { id: "gm", role: "manager" },
      // 64 KiB of ExCache for 256 KiB of data: both styles miss on every line twice.
      { id: "p0", role: "processor", options: { cacheBytes: 65536, ways: 16 } },
      { id: "m0", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  }, { log: () => {} });
  try {
    const result = await cluster.run(workload, [style]);
    assert.equal(result.exitCode, 0, result.error ?? `${style}: wrong sum`);
    return { modelNs: result.modelNs, hits: result.stats.hits };
  } finally {
    await cluster.stop();
  }
}

Deno.test("typed loads and forEachF32 declaring the same compute get the same model time", async () => {
  const typed = await modelTime("typed");
  const lines = await modelTime("lines");
  // Very different numbers of hits (one per value against one per line) ...
  assert.ok(typed.hits > 10 * lines.hits, `${typed.hits} vs ${lines.hits} hits`);
  // ... and no difference in model time beyond 1 %.
  const ratio = typed.modelNs / lines.modelNs;
  assert.ok(Math.abs(ratio - 1) <= 0.01, `typed ${typed.modelNs} ns, lines ${lines.modelNs} ns`);
  // The declared compute is part of it: 65536 values at 4 bytes each, memory-bound.
  assert.ok(lines.modelNs > 65536 * 4 / 9.952);
});
