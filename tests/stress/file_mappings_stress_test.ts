/**
 * Defect 5 of issue 17, through the real processor and memory: private file mappings are
 * never written back (not at `munmap`, not at exit), and writable `MAP_SHARED` file
 * mappings work: their dirty lines reach the file on `msync`, `munmap` and exit, and a
 * `read` of the file (through the buffer cache) sees them. See
 * tests/workloads/file_mappings.ts.
 */

import assert from "node:assert/strict";
import { startCluster } from "../../mod.ts";
import { repeat } from "./stress.ts";

const workload = new URL("../workloads/file_mappings.ts", import.meta.url).href;

Deno.test("shared file mappings write the file on msync, munmap and exit; private ones never", async () => {
  const cluster = await startCluster({
    components: [
      { id: "gm", role: "manager" },
      { id: "p0", role: "processor", options: { cacheBytes: 64 * 1024, ways: 4 } },
      { id: "m0", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  }, { log: () => {} });
  try {
    await repeat("file mappings", async (i) => {
      const shared = await cluster.run(workload, ["shared", `shared-${i}.bin`]);
      assert.equal(shared.exitCode, 0, shared.error);
      const check = await cluster.run(workload, ["check-exit", `shared-${i}.bin`]);
      assert.equal(check.exitCode, 0, check.error);
      const priv = await cluster.run(workload, ["private", `private-${i}.bin`]);
      assert.equal(priv.exitCode, 0, priv.error);
      const atExit = await cluster.run(workload, ["private-exit", `exit-${i}.bin`]);
      assert.equal(atExit.exitCode, 0, atExit.error);
      assert.equal(atExit.stats.dirtyFlushes, 0, "a private file mapping was written back at exit");
    });
  } finally {
    await cluster.stop();
  }
});
