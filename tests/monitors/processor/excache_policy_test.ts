import assert from "node:assert/strict";
import { startCluster } from "../../../mod.ts";
import { UNREFERENCED } from "../../../kernel/replacement.ts";
import { createRandom } from "../../../plugins/replacement/random.ts";

const workload = new URL("../../workloads/access_trace.ts", import.meta.url).href;

/** Runs the access trace on a 1-set, 4-way cache with `replacement`; returns H/M per access. */
function trace(
  replacement: string,
  pages: number[],
  replacementOptions: Record<string, unknown> = {},
): Promise<string> {
  return traceArgs(replacement, pages.map(String), replacementOptions);
}

/** {@link trace} with the workload's arguments as given (`?` marks the traced accesses). */
async function traceArgs(
  replacement: string,
  args: string[],
  replacementOptions: Record<string, unknown> = {},
): Promise<string> {
  const lines: string[] = [];
  const cluster = await startCluster({
    components: [
      { id: "gm", role: "manager" },
      {
        id: "p0",
        role: "processor",
        options: { cacheBytes: 4 * 4096, ways: 4, replacement, replacementOptions },
      },
      { id: "m0", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  }, { log: (_, message) => lines.push(message) });
  try {
    const result = await cluster.run(workload, args);
    assert.equal(result.exitCode, 0, result.error);
  } finally {
    await cluster.stop();
  }
  const line = lines.find((l) => l.includes("trace "));
  assert.ok(line, `no trace in ${lines.join("\n")}`);
  return line.slice(line.indexOf("trace ") + 6);
}

Deno.test("through the ExCache, fifo evicts the line filled first even after it was reused", async () => {
  // Fill 0-3, reuse 0, then 4 evicts 0 (oldest fill), 0 evicts 1, 1 evicts 2.
  assert.equal(await trace("fifo", [0, 1, 2, 3, 0, 4, 0, 1, 3]), "MMMMHMMMH");
});

Deno.test("through the ExCache, lru evicts the line used longest ago", async () => {
  // Fill 0-3, reuse 0, then 4 evicts 1 (least recently used), 0 hits, 1 evicts 2.
  assert.equal(await trace("lru", [0, 1, 2, 3, 0, 4, 0, 1, 3]), "MMMMHMHMH");
});

Deno.test("through the ExCache, lru orders a fast-path hit after the slow hit before it", async () => {
  // Fill 0-3; 2 and 3 again; 0 and 1 again through the slow path (their pins were dropped
  // at the misses), then 0 on the fast path (still pinned). Exact LRU order is now
  // 2 3 1 0, so 4, 5 and 6 evict 2, 3 and 1, and 0 still hits. Had the fast hit on 0 shared
  // the slow hit's stamp on 1, the tie would go to the line filled first and evict 0.
  const pages = ["0", "1", "2", "3", "2", "3", "0", "1", "0", "4", "5", "6", "?0"];
  assert.equal(await trace("lru", pages.map((p) => Number(p.replace("?", "")))), "MMMMHHHHHMMMH");
  assert.equal(await traceArgs("lru", pages), "H");
});

Deno.test("through the ExCache, random evicts what its seeded generator picks", async () => {
  const pages = [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 6, 7, 4, 5, 0, 2];
  for (const seed of [1, 2, 3]) {
    // A reference model of a 4-way set fed by the same policy and seed.
    const policy = createRandom({ sets: 1, ways: 4 }, { seed });
    const ways: number[] = [];
    let want = "";
    for (const page of pages) {
      if (ways.includes(page)) want += "H";
      else {
        want += "M";
        if (ways.length < 4) ways.push(page);
        else ways[policy.victim(0, [0, 1, 2, 3], () => 0, UNREFERENCED)] = page;
      }
    }
    assert.equal(await trace("random", pages, { seed }), want, `seed ${seed}`);
  }
});

Deno.test("setPolicy() switches the replacement policy at run time and refuses what it cannot switch", async () => {
  const cluster = await startCluster({
    components: [
      { id: "gm", role: "manager" },
      { id: "p0", role: "processor", options: { cacheBytes: 4 * 4096, ways: 4 } },
      { id: "m0", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  }, { log: () => {} });
  try {
    const p0 = cluster.monitors.get("p0")!;
    assert.equal(cluster.stats().p0.replacement, "lru");
    await p0.setPolicy!("replacement-policy", "fifo");
    assert.equal(cluster.stats().p0.replacement, "fifo");
    const result = await cluster.run(workload, ["0", "1", "2", "3", "0", "4", "0"]);
    assert.equal(result.exitCode, 0);
    await assert.rejects(
      p0.setPolicy!("replacement-policy", "lfu"),
      /available: fifo, linux-reclaim, lru, random/,
    );
    await assert.rejects(p0.setPolicy!("process-placement", "fifo"), /EINVAL|no process-placement/);
  } finally {
    await cluster.stop();
  }
});
