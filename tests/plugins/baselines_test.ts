import assert from "node:assert/strict";
import type { LatencyModel } from "../../kernel/latency.ts";
import type { PagerCall } from "../../kernel/pager.ts";
import { UNREFERENCED } from "../../kernel/replacement.ts";
import {
  createLinuxReclaim,
  createLinuxSwapPager,
  linuxReclaimPlugin,
  SwapReadahead,
} from "../../plugins/baselines/mod.ts";
import { runPolicyContract } from "../../testing/replacement_contract.ts";

// A device where reading n pages costs 1000·n ns and writing a page 500 ns.
const latency = {
  name: "test",
  deviceNs: (_d: string, op: string, bytes: number) => (op === "read" ? 1000 : 500) * bytes / 4096,
  messageNs: (bytes: number) => 10 + bytes,
} as unknown as LatencyModel;

const call = (kind: string, vaddr: number, fetch = vaddr): PagerCall => ({
  kind,
  pid: 1,
  fetchVaddr: fetch,
  flushVaddr: vaddr,
  requestBytes: 0,
  replyBytes: 0,
  nowNs: 0,
});
const page = (n: number) => n * 4096;

Deno.test("SwapReadahead: the window grows with hits and narrows by halves when unused", () => {
  const ra = new SwapReadahead(8);
  const w = (offset: number) => {
    const { pages, first, last } = ra.window(offset);
    return [pages, first, last];
  };
  assert.deepEqual(w(10), [1, 10, 10], "no hits, not next to the last fault: one page");
  assert.deepEqual(w(11), [2, 10, 11], "next to the last fault: two, aligned");
  ra.hit();
  ra.hit();
  assert.deepEqual(w(12), [4, 12, 15], "2 hits + 2 = 4");
  for (let i = 0; i < 4; i++) ra.hit();
  assert.deepEqual(w(16), [8, 16, 23], "4 hits + 2 = 6, rounded up to 8 (the cap)");
  assert.deepEqual(w(100), [4, 100, 103], "unused: at least half the last window");
  assert.deepEqual(w(200), [2, 200, 201]);
  assert.deepEqual(w(300), [1, 300, 300]);
  ra.hit();
  ra.hit();
  assert.deepEqual(w(1), [4, 1, 3], "slot 0 is the swap header and never read");
  assert.throws(() => new SwapReadahead(6), /power of two/);
});

Deno.test("linux-swap: readahead reads the next swap slots not in memory, and hands them to the processor", () => {
  const pager = createLinuxSwapPager({ device: "ssd", minorFaultNs: 100, reclaimPageNs: 30 }, {
    lines: 1024,
    latency,
  });
  const event = (kind: "first-touch" | "evict" | "swap-cache-hit", p: number, dirty = false) =>
    pager.pageEventNs!({ kind, pid: 1, vaddr: page(p), dirty, nowNs: 0 });
  for (let p = 0; p < 8; p++) {
    assert.equal(event("first-touch", p), 100, "first touch: a minor fault");
    assert.equal(event("evict", p, true), 30, "reclaim's software per page");
    assert.equal(pager.callNs(call("P2M_PAGE_FLUSH", page(p))), 500, "then the swap-out");
  }
  // Pages 0..7 sit in slots 1..8, in the order they were swapped out.
  assert.equal(pager.callNs(call("P2M_PAGE_FETCH", page(1))), 1000, "slot 2, first fault: 1 page");
  assert.deepEqual(pager.takeReadahead!(), []);
  // Slot 3 is next to slot 2: a window of 2, slots 2..3; slot 2's page is in memory.
  assert.equal(pager.callNs(call("P2M_PAGE_FETCH", page(2))), 1000, "page 1 is in memory: no I/O");
  assert.equal(pager.callNs(call("P2M_PAGE_FETCH", page(3))), 2000, "slots 4, 5: pages 3, 4");
  assert.deepEqual(pager.takeReadahead!(), [{ pid: 1, vaddr: page(4) }]);
  assert.deepEqual(pager.takeReadahead!(), [], "each page is handed over once");
  // The processor brings page 4 into a line: the fault's read paid for it.
  assert.equal(pager.callNs(call("P2M_PAGE_FETCH", page(4))), 0);
  assert.equal(event("swap-cache-hit", 4), 100, "touching it: a minor fault");
  // One hit: 1 + 2 = 3, rounded up to 4: slots 4..7, of which pages 5 and 6 are not in.
  assert.equal(pager.callNs(call("P2M_PAGE_FETCH", page(5))), 2000);
  assert.deepEqual(pager.takeReadahead!(), [{ pid: 1, vaddr: page(6) }]);
  assert.equal(pager.callNs(call("P2M_PAGE_FETCH", page(6))), 0);
  // Page 6 is reclaimed before anyone touched it: clean, its swap copy valid, no I/O.
  assert.equal(event("evict", 6), 30);
  const stats = pager.stats();
  assert.equal(stats.readaheadPages, 2);
  assert.equal(stats.readaheadHits, 1);
  assert.equal(stats.majorFaults, 4);
  assert.equal(stats.minorFaults, 9, "8 first touches and 1 swap-cache hit");
  assert.equal(stats.swapOuts, 8);
  assert.equal(stats.reclaimed, 9);
  assert.equal(stats.cleanDrops, 1);
  // Reading page 6 again is a major fault from its old slot (slot 7, no write since).
  assert.ok(pager.callNs(call("P2M_PAGE_FETCH", page(6))) >= 1000);
});

Deno.test("linux-swap: readahead narrows to one page when its pages go unused", () => {
  const pager = createLinuxSwapPager({ device: "ssd" }, { lines: 1024, latency });
  for (let p = 0; p < 64; p++) pager.callNs(call("P2M_PAGE_FLUSH", page(p)));
  pager.callNs(call("P2M_PAGE_FETCH", page(10)));
  pager.callNs(call("P2M_PAGE_FETCH", page(11))); // adjacent: 2 pages
  const costs = [40, 20, 50, 30, 60].map((p) => pager.callNs(call("P2M_PAGE_FETCH", page(p))));
  assert.deepEqual(costs, [1000, 1000, 1000, 1000, 1000], "far apart, no hits: one page each");
  assert.equal(pager.stats().readaheadHits, 0);
});

Deno.test("linux-swap: a dirty page swapped out again gets a new slot; its old one is not read", () => {
  const pager = createLinuxSwapPager({ device: "ramdisk", pageCluster: 0 }, {
    lines: 64,
    latency,
  });
  pager.callNs(call("P2M_PAGE_FLUSH", page(7)));
  pager.callNs(call("P2M_PAGE_FETCH", page(7)));
  // Written again and evicted: swap-out and the next fault share one call (piggyback).
  assert.equal(pager.callNs(call("P2M_PAGE_FLUSH_FETCH", page(7), page(7))), 500 + 1000);
  const stats = pager.stats();
  assert.equal(stats.swapOuts, 2);
  assert.equal(stats.majorFaults, 2);
  // A page never swapped out is a first touch: the fault path only, and a system call is
  // a local memory copy.
  assert.ok(pager.callNs(call("P2M_PAGE_FETCH", page(99))) < 1000);
  assert.equal(pager.callNs({ ...call("P2M_MMAP", 0), requestBytes: 24, replyBytes: 8 }), 42);
  assert.throws(
    () => createLinuxSwapPager({ device: "floppy" as "ssd" }, { lines: 64, latency }),
    /linux-swap option device/,
  );
});

Deno.test("linux-reclaim: second chance keeps a re-referenced page (hand-worked trace)", () => {
  const run = (touchWay1Again: boolean) => {
    const policy = createLinuxReclaim({ sets: 1, ways: 3 });
    const use = [1, 2, 3]; // each page referenced by the fault that brought it in
    for (const way of [0, 1, 2]) policy.filled(0, way);
    // First reclaim: every page is referenced, so each is activated once; deactivation
    // (to keep inactive >= active) clears the bits; way 0, first activated and first
    // deactivated, is unreferenced when it reaches the inactive tail again.
    assert.equal(policy.victim(0, [0, 1, 2], (w) => use[w], UNREFERENCED), 0);
    policy.removed(0, 0);
    policy.filled(0, 0);
    use[0] = 4; // the new page, faulted in
    if (touchWay1Again) use[1] = 10; // way 1 is used again; way 2 is not
    return policy.victim(0, [0, 1, 2], (w) => use[w], UNREFERENCED);
  };
  // Lists now: inactive [0 (new), 1] (head first), active [2]; bits of 1 and 2 cleared.
  assert.equal(run(false), 1, "way 1, unreferenced at the inactive tail, goes");
  assert.equal(run(true), 2, "way 1 gets a second chance; way 2, unused since, goes");
});

Deno.test("linux-reclaim: a page that cannot be evicted now is passed over", () => {
  const policy = createLinuxReclaim({ sets: 2, ways: 4 });
  for (const way of [0, 1, 2, 3]) policy.filled(1, way);
  const victim = policy.victim(1, [2, 3], () => 0, UNREFERENCED);
  assert.ok(victim === 2 || victim === 3);
  assert.throws(() => policy.victim(5, [0], () => 0, UNREFERENCED), /set 5/);
});

runPolicyContract(linuxReclaimPlugin);

Deno.test("a Linux machine: pages read ahead take lines of memory, every eviction reaches the pager, the data stays right", async () => {
  const { startCluster } = await import("../../mod.ts");
  const { baselineProcessor } = await import("../../plugins/baselines/mod.ts");
  const workload = new URL("../workloads/sequential_swap.ts", import.meta.url).href;
  const lines = 16;
  const cluster = await startCluster({
    seed: 1,
    components: [
      { id: "gm", role: "manager" },
      { id: "p0", role: "processor", options: baselineProcessor("ssd", lines * 4096, lines) },
      { id: "m0", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  }, { log: () => {} });
  try {
    // 64 pages written in order (swapped out in order), then read back twice in order.
    const result = await cluster.run(workload, ["64", "2"]);
    assert.equal(result.exitCode, 0, result.error ?? "a page read back held the wrong word");
    const p = cluster.stats()[result.processor] as Record<string, number>;
    assert.ok(p["pager.readaheadPages"] > 0 && p["pager.readaheadHits"] > 0, JSON.stringify(p));
    assert.equal(
      p["pager.reclaimed"],
      p.evictions,
      "every eviction, clean or dirty, reaches the pager",
    );
    assert.ok(
      p["pager.cleanDrops"] > 0,
      "pages swapped in and not written are dropped without I/O",
    );
    assert.equal(p["pager.swapOuts"], 64, "only the first pass dirtied pages");
    assert.ok(p.cacheLinesUsed <= lines);
  } finally {
    await cluster.stop();
  }
});
