import assert from "node:assert/strict";
import { startCluster } from "../../mod.ts";
import { runMonitorContract } from "../../testing/mod.ts";
import compressedSwap from "./compressed_swap.ts";

// The same suite the stock memory monitor passes; 1 MiB of DRAM under the suite's 2 MiB
// process, so its pages go through (compressed) swap.
runMonitorContract(compressedSwap, { options: { dramBytes: 1 << 20 } });

Deno.test("compressed-swap, plugged in by config, swaps pages out smaller and reads them back", async () => {
  const here = (path: string) => new URL(path, import.meta.url);
  const cluster = await startCluster(decodeURIComponent(here("./cluster.json").pathname), {
    log: () => {},
  });
  try {
    const result = await cluster.run(
      here("../../testing/workloads/contract_workload.ts").href,
      ["memory", "2048"],
    );
    assert.equal(result.exitCode, 0, result.error);
    const stats = cluster.monitors.get("m0")!.stats() as {
      compressedSwap: {
        pagesCompressed: number;
        bytesBefore: number;
        bytesAfter: number;
        pagesInflated: number;
      };
    };
    const c = stats.compressedSwap;
    assert.ok(c.pagesCompressed > 0, `no page was swapped out compressed: ${JSON.stringify(c)}`);
    assert.ok(c.bytesAfter < c.bytesBefore, JSON.stringify(c));
    assert.ok(c.pagesInflated > 0, `no page came back from swap: ${JSON.stringify(c)}`);
  } finally {
    await cluster.stop();
  }
});
