/**
 * Deterministic mode across OS processes: a seeded cluster of one process per component
 * over TCP (the manager here, hosting the scheduler; processor, two memory components and
 * storage as processes of their own) runs the demo workload with 4 threads through a small
 * ExCache. The same seed gives byte-identical counters and model time, another seed
 * another run, and the run equals the same cluster booted in one process with that seed.
 */

import assert from "node:assert/strict";
import { startCluster } from "../../../mod.ts";
import { DEMO_ARGS, DEMO_PROCESSOR, fingerprint, runDemoOverTcp } from "../../tcp_demo.ts";

const demo = new URL("../../../examples/workloads/demo.ts", import.meta.url).href;

/** The same cluster and run in one process (in-memory transport). */
async function runInProcess(seed: number): Promise<string> {
  const cluster = await startCluster({
    seed,
    components: [
      { id: "gm", role: "manager" },
      { id: "m0", role: "memory" },
      { id: "m1", role: "memory" },
      { id: "s0", role: "storage" },
      { id: "p0", role: "processor", options: DEMO_PROCESSOR },
    ],
  }, { log: () => {} });
  try {
    const result = await cluster.run(demo, DEMO_ARGS);
    assert.equal(result.exitCode, 0, result.error);
    return fingerprint(result);
  } finally {
    await cluster.stop();
  }
}

Deno.test("deterministic mode over TCP, one process per component: the same seed gives byte-identical counters and model time; another seed differs", async () => {
  const first = await runDemoOverTcp(7);
  const second = await runDemoOverTcp(7);
  assert.equal(second.print, first.print);
  const stats = JSON.parse(first.print).stats;
  assert.equal(stats.threads, 4);
  assert.equal(stats["model.seed"], 7);
  assert.ok(stats.evictions > 0 && stats.misses > 0, first.print);
  assert.ok(first.events > 0, "the manager's scheduler served the events");
  const other = await runDemoOverTcp(8);
  const strip = (print: string) => print.replace(/"model.seed":\d+/, "");
  assert.notEqual(strip(other.print), strip(first.print), "another seed orders ties differently");
  // Model time comes from the latency model, not the real transport: one process gives the same.
  assert.equal(await runInProcess(7), first.print);
});
