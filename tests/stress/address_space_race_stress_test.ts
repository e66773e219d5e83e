/**
 * Defect 1 of issue 17: `mprotect`/`munmap` must be atomic with respect to other threads'
 * faults. Three writer threads store to their pages of a 256-page mapping (a 16-line
 * ExCache, so they miss all the time) while the main thread makes the mapping read-only
 * or unmaps it; once the call has returned, no store may land and every writer must stop
 * with a segmentation fault (see tests/workloads/address_space_races.ts).
 */

import assert from "node:assert/strict";
import { startCluster } from "../../mod.ts";
import { repeat } from "./stress.ts";

const workload = new URL("../workloads/address_space_races.ts", import.meta.url).href;
const MEANING: Record<number, string> = {
  1: "a store landed after the call returned",
  2: "a writer was never stopped",
  3: "a writer never got going",
};

for (const mode of ["mprotect", "munmap"]) {
  Deno.test(`no thread writes a range after ${mode}() of it has returned`, async () => {
    const cluster = await startCluster({
      components: [
        { id: "gm", role: "manager" },
        { id: "p0", role: "processor", options: { cacheBytes: 64 * 1024, ways: 4 } },
        { id: "m0", role: "memory" },
        { id: "s0", role: "storage" },
      ],
    }, { log: () => {} });
    try {
      await repeat(`${mode} race`, async () => {
        const result = await cluster.run(workload, [mode]);
        assert.equal(
          result.exitCode,
          0,
          `${MEANING[result.exitCode] ?? "the process failed"} ${result.error ?? ""}`,
        );
      });
    } finally {
      await cluster.stop();
    }
  });
}
