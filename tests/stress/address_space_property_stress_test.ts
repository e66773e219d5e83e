/**
 * The multi-threaded property of issue 17: with two threads loading and storing at random
 * while the main thread makes random `mmap`/`munmap`/`mremap`/`mprotect` calls on a
 * 32-page window (programs generated and shrunk by fast-check), after every call returns
 * its result matches a reference model, every thread can access exactly what the model
 * allows, and no thread that only made legal accesses died (see
 * tests/workloads/address_space_model.ts). One fast-check run per stress iteration.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { startCluster } from "../../mod.ts";
import { stressIterations } from "./stress.ts";

const workload = new URL("../workloads/address_space_model.ts", import.meta.url).href;
const WINDOW_PAGES = 32;

const range = fc.tuple(fc.nat(WINDOW_PAGES - 1), fc.integer({ min: 1, max: 8 })).map((
  [page, pages],
) => ({ page, pages: Math.min(pages, WINDOW_PAGES - page) }));
const prot = fc.integer({ min: 0, max: 3 });
const op = fc.oneof(
  fc.tuple(range, prot).map(([r, p]) => ({ op: "mmap", ...r, prot: p })),
  range.map((r) => ({ op: "munmap", ...r })),
  fc.tuple(range, prot).map(([r, p]) => ({ op: "mprotect", ...r, prot: p })),
  fc.tuple(range, fc.nat(WINDOW_PAGES - 1)).map(([r, to]) => ({
    op: "mremap",
    ...r,
    to: Math.min(to, WINDOW_PAGES - r.pages),
  })),
);

Deno.test("threads never access what the model forbids after a call returns, and no innocent thread dies", async () => {
  const cluster = await startCluster({
    components: [
      { id: "gm", role: "manager", options: { vregionBytes: 64 * 1024 } },
      { id: "p0", role: "processor", options: { cacheBytes: 16 * 4096, ways: 4 } },
      { id: "m0", role: "memory" },
      { id: "m1", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  }, { log: () => {} });
  const runs = stressIterations();
  const progress = Deno.env.get("LEGOEMU_STRESS_PROGRESS") === "1";
  let done = 0;
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 10 }), async (ops) => {
        const result = await cluster.run(workload, [JSON.stringify(ops)]);
        assert.equal(result.exitCode, 0, result.error);
        done++;
        if (progress && done % Math.max(1, Math.floor(runs / 10)) === 0) {
          console.error(`[stress] address-space property: ${done}/${runs} runs passed`);
        }
      }),
      { numRuns: runs },
    );
  } finally {
    await cluster.stop();
  }
});
