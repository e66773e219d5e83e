/**
 * Queueing and parallel work in model time, through a real processor and the process API,
 * in deterministic mode. Every expected number is computed by hand from the latency
 * model's constants:
 * - `rtt`: `messageNs` of the call's bytes (the round trip on an idle link);
 * - `L`, `B`: what a memory component's worker adds to a page request and how long it is
 *   busy with it (`service("page")`);
 * - `wire(frame)`: a NIC's busy time for a frame (`wireNs` of its bytes, header included).
 */

import assert from "node:assert/strict";
import { startCluster } from "../../../mod.ts";
import { encode } from "../../../kernel/codec.ts";
import type { LatencyModel } from "../../../kernel/latency.ts";
import { FLAG_REPLY, type MessageKind } from "../../../kernel/messages.ts";
import type { BurstSpec } from "../../workloads/model_burst.ts";

const workload = new URL("../../workloads/model_burst.ts", import.meta.url).href;
const PAGE = 4096;
const VREGION = 64 * 1024;
/** When the threads miss: far after everything the set-up did. */
const T = 5e6;

/** A burst as the test chooses it (the run adds the model's FLOP rate). */
type Burst = Omit<BurstSpec, "flopsPerNs">;

/** Runs `burst` on a cluster of four memory components; returns what it logged and the model. */
async function run(burst: Burst, memoryOptions: Record<string, unknown> = {}) {
  const lines: string[] = [];
  const cluster = await startCluster({
    seed: 11,
    components: [
      {
        id: "gm",
        role: "manager",
        options: { vregionBytes: VREGION, vregionPlacement: "round-robin" },
      },
      // 16 lines, one set: reading 16 fresh pages evicts everything else.
      { id: "p0", role: "processor", options: { cacheBytes: 16 * PAGE, ways: 16 } },
      ...["m0", "m1", "m2", "m3"].map((id) => ({
        id,
        role: "memory" as const,
        options: memoryOptions,
      })),
      { id: "s0", role: "storage" },
    ],
  }, { log: (_id, line) => lines.push(line) });
  try {
    const latency = cluster.latency;
    const spec = { ...burst, flopsPerNs: latency.roofline().flopsPerNs };
    const result = await cluster.run(workload, [JSON.stringify(spec)]);
    assert.equal(result.exitCode, 0, result.error);
    const tag = `model_burst ${burst.mode} `;
    const values = lines.filter((l) => l.includes(tag)).map((l) =>
      Number(l.slice(l.indexOf(tag) + tag.length))
    );
    assert.equal(values.length, burst.mode === "fetch" ? burst.at.length : 1, lines.join("\n"));
    return { values, latency, stats: result.stats, lines };
  } finally {
    await cluster.stop();
  }
}

/** A NIC's busy time for a `kind` frame with `body`. */
function wire(
  latency: LatencyModel,
  kind: MessageKind,
  body: Record<string, unknown>,
  reply = false,
) {
  const frame = encode({
    kind,
    requestId: 1,
    src: "p0",
    dst: "m0",
    flags: reply ? FLAG_REPLY : 0,
    body,
  });
  return latency.wireNs(frame.length);
}

function near(actual: readonly number[], expected: readonly number[], what: string): void {
  assert.equal(actual.length, expected.length, what);
  actual.forEach((a, i) =>
    assert.ok(
      Math.abs(a - expected[i]) < 0.01,
      `${what}: got [${actual.join(", ")}] ns, expected [${expected.join(", ")}] ns`,
    )
  );
}

/** A fetch of page k: the round trip the processor charges (16-byte request, 4 KiB reply). */
function fetchCosts(latency: LatencyModel) {
  const page = latency.service("page");
  return {
    rtt: latency.messageNs(16 + PAGE),
    L: page.latencyNs,
    B: page.busyNs,
    request: wire(latency, "P2M_PAGE_FETCH", { pid: 1, vaddr: 0 }),
    reply: wire(latency, "P2M_PAGE_FETCH", { page: new Uint8Array(PAGE) }, true),
  };
}

const sorted = (values: number[]) => [...values].sort((a, b) => a - b);

Deno.test("N threads missing at once on one memory component queue at its worker: each waits B more", async () => {
  for (const n of [2, 4]) {
    const pages = Array.from({ length: n }, (_, k) => k * PAGE); // one vRegion, one owner
    const { values, latency } = await run({
      mode: "fetch",
      mapBytes: 4 * PAGE,
      pages,
      at: pages.map(() => T),
      evictPages: 16,
    });
    const { rtt, L, B } = fetchCosts(latency);
    // The k-th served waits for the k before it at the one worker (B > any wire time).
    near(sorted(values), pages.map((_, k) => rtt + L + k * B), `${n} threads, one component`);
  }
});

Deno.test("N threads missing at once on N memory components wait only for the processor's NIC", async () => {
  const pages = [0, 1, 2, 3].map((k) => k * VREGION); // one vRegion each: round-robin owners
  const { values, latency } = await run({
    mode: "fetch",
    mapBytes: 4 * VREGION,
    pages,
    at: pages.map(() => T),
    evictPages: 16,
  });
  const { rtt, L, B, request, reply } = fetchCosts(latency);
  assert.ok(reply > request && B > reply);
  // Each component serves at once; the four 4 KiB replies come in one after another
  // through the processor's receive side: k replies' wire time, not k worker times.
  near(sorted(values), pages.map((_, k) => rtt + L + k * reply), "4 threads, 4 components");
});

Deno.test("a burst of 4 KiB fetches to a component with 4 workers queues at its NIC", async () => {
  const pages = [0, 1, 2, 3].map((k) => k * PAGE);
  const { values, latency } = await run({
    mode: "fetch",
    mapBytes: 4 * PAGE,
    pages,
    at: pages.map(() => T),
    evictPages: 16,
  }, { workers: 4 });
  const { rtt, L, reply } = fetchCosts(latency);
  // Four workers serve the four at once; their replies leave the component's NIC one
  // after another, each 4 KiB (plus header) at the link rate.
  near(sorted(values), pages.map((_, k) => rtt + L + k * reply), "4 workers");
  assert.equal(reply, (PAGE + 64) * 8 / 40); // a 4 KiB page and the 64-byte header: 832 ns
});

Deno.test("msync's 16 write-backs at once are charged the slowest, not the sum", async () => {
  const pages = Array.from({ length: 16 }, (_, k) => k * PAGE);
  const { values, latency } = await run({ mode: "msync", mapBytes: 16 * PAGE, pages, at: [T] });
  const page = latency.service("page");
  const rtt = latency.messageNs(PAGE + 16); // the processor's size of a flush
  // The 16 go out together; the one worker takes them one after another, so the k-th is
  // done after k busy times: the msync ends with the 16th.
  const slowest = rtt + page.latencyNs + 15 * page.busyNs;
  near(values, [slowest], "msync of 16 dirty lines");
  const sum = 16 * (rtt + page.latencyNs) + 120 * page.busyNs;
  assert.ok(values[0] < sum / 2, `${values[0]} ns, the sum would be ${sum} ns`);
});

Deno.test("a thread missing on a line another thread is filling waits only for the rest of it", async () => {
  const late = 2_000;
  const { values, latency, stats } = await run({
    mode: "fetch",
    mapBytes: PAGE,
    pages: [0, 0],
    at: [T, T + late],
    evictPages: 16,
  });
  const { rtt, L } = fetchCosts(latency);
  // In deterministic mode the first fill is served whole before the second thread's miss:
  // that thread finds the line resident, but in model time it is still on its way.
  near(values, [rtt + L, rtt + L - late], "first fill, then the rest of it");
  assert.ok(stats.misses >= 2, JSON.stringify(stats));
});

Deno.test("a thread that finds another thread's fill in its own search still waits for the rest of it", async () => {
  // The second thread's miss on a fresh page of its own (an event at T + 1 µs) is served
  // after the first thread's fill (at T) is done in wall time; its next read of that
  // line then finds it resident without the monitor, though in model time the fill ends
  // later: it must wait for the rest, as a miss reaching the monitor does.
  const { values, lines } = await run({
    mode: "fetch",
    mapBytes: PAGE,
    pages: [0, 0],
    at: [T, T + 1_000],
    evictPages: 16,
    touchFirst: [false, true],
  });
  const began = lines.filter((l) => l.includes("model_burst began ")).map((l) =>
    Number(l.slice(l.indexOf("began ") + 6))
  );
  assert.equal(began.length, 1, lines.join("\n"));
  const [first] = values;
  const fillDoneNs = T + first; // the first thread's read began at T
  assert.ok(fillDoneNs > began[0], `fill done ${fillDoneNs} ns, second read began ${began[0]} ns`);
  near([values[1]], [fillDoneNs - began[0]], "the rest of the first thread's fill");
});
