/**
 * Replays every case of tests/fixtures/linux_mm/cases.json (recorded from the real Linux
 * kernel) through the real processor and process API — system calls, the VMA mirror,
 * p-local tracking and the ExCache — on two memory components with 64 KiB vRegions, and
 * checks every return value, errno and fault against Linux (tests/workloads/linux_table.ts
 * runs one case per process). tests/monitors/memory/memory_linux_semantics_test.ts replays
 * the same table on the memory components alone and also checks the final mappings.
 */

import assert from "node:assert/strict";
import { startCluster } from "../../../mod.ts";

const fixture = JSON.parse(
  await Deno.readTextFile(new URL("../../fixtures/linux_mm/cases.json", import.meta.url)),
) as { cases: { name: string }[] };
const workload = new URL("../../workloads/linux_table.ts", import.meta.url).href;

Deno.test("address-space calls through the processor match the Linux table", async (t) => {
  const cluster = await startCluster({
    components: [
      { id: "gm", role: "manager", options: { vregionBytes: 64 * 1024 } },
      // A small ExCache, so lines are evicted and written back between the steps.
      { id: "p0", role: "processor", options: { cacheBytes: 16 * 4096, ways: 4 } },
      { id: "m0", role: "memory" },
      { id: "m1", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  }, { log: () => {} });
  try {
    for (const c of fixture.cases) {
      await t.step(c.name, async () => {
        const result = await cluster.run(workload, [JSON.stringify(c)]);
        assert.equal(result.exitCode, 0, result.error);
      });
    }
  } finally {
    await cluster.stop();
  }
});
