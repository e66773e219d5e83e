/**
 * Defects 3 and 4 of issue 17, through the real processor and process API: 64-bit lengths
 * (2^62 as a number or a bigint is `ENOMEM` for `mmap`, as in Linux, not a complaint that
 * it is not a safe integer), and `mremap` moves only with `MREMAP_MAYMOVE` (flags default
 * to 0). See tests/workloads/linux_args.ts.
 */

import assert from "node:assert/strict";
import { startCluster } from "../../mod.ts";
import { repeat } from "./stress.ts";

const workload = new URL("../workloads/linux_args.ts", import.meta.url).href;

Deno.test("huge and bigint lengths get Linux's errno; mremap does not move without MREMAP_MAYMOVE", async () => {
  const cluster = await startCluster({
    components: [
      { id: "gm", role: "manager" },
      { id: "p0", role: "processor", options: { cacheBytes: 64 * 1024, ways: 4 } },
      { id: "m0", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  }, { log: () => {} });
  try {
    await repeat("linux arguments", async () => {
      const result = await cluster.run(workload, []);
      assert.equal(result.exitCode, 0, result.error);
    });
  } finally {
    await cluster.stop();
  }
});
