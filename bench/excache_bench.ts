/**
 * ExCache benchmarks: what a hit, a bulk read and a miss cost through the process API,
 * each against a baseline measured in the same run, and emulated accesses per second.
 *
 * The same file is the workload the benchmarks run (its `main` runs inside a thread of the
 * emulated process and logs its measurements as JSON), so that both sides of each ratio
 * run in the same Worker. Cluster code is imported lazily for the same reason: a thread
 * loads this module without loading the whole library.
 *
 * @module
 */

import type { Cluster } from "../mod.ts";
import type { Proc } from "../kernel/process_api.ts";
import type { BenchCase, Metric } from "./harness.ts";

const PAGE = 4096;
/** Random loads per timed round of the hit benchmark. */
const HIT_LOADS = 1 << 21;
/**
 * Region of the hit and bulk benchmarks: resident, larger than the host's L1 and within
 * the thread's TLB reach (256 of its 512 lines), so that every load is a fast hit.
 */
const HIT_REGION = 1 << 20;
/** Alternating timed rounds of the hit and bulk benchmarks. */
const ROUNDS = 9;
/** Untimed alternating rounds first, for this long (ms), until V8 has optimized both. */
const WARMUP_MS = 1500;
/** Fresh clusters the miss benchmark pairs with round trips (odd: it takes the median). */
const MISS_ROUNDS = 5;
/** Pages of the miss benchmark's region (16 times its 64 KiB cache). */
const MISS_PAGES = 256;
/** Misses, then as many round trips to the monitor, per block of the interleaved passes. */
const MISS_BLOCK = 16;
/** Interleaved passes over the region (the first one untimed). */
const INTERLEAVED_PASSES = 4;
/** Round trips per run of the check that a schedYield round trip is a bare one. */
const YIELD_CHECK_TRIPS = 2000;

// ── the workload side ──

/** Measurements a thread logs, as `bench {json}`. */
type Report = Record<string, number>;

function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Random word indexes (seeded xorshift) below `words`. */
function randomWords(count: number, words: number, seed = 2463534242): Int32Array {
  const out = new Int32Array(count);
  let x = seed;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (x >>> 0) % words;
  }
  return out;
}

/** Best-of-`rounds` time of `body`, in ms. */
function best(rounds: number, body: () => void): number {
  let fastest = Infinity;
  for (let r = 0; r < rounds; r++) {
    const start = now();
    body();
    fastest = Math.min(fastest, now() - start);
  }
  return fastest;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** One side of a comparison: does `n` units of the measured work. */
type Side = (n: number) => void;

/**
 * Runs `side` for `n` units, in ms. Every side is called from this one call site, which
 * has seen more distinct functions than V8 inlines at one site (see below): so what is
 * timed is each side's own optimized function, as a workload's hot function runs, never a
 * copy inlined into this harness's loop (which V8 compiles mid-loop, differently from run
 * to run).
 */
function timed(side: Side, n: number): number {
  const start = now();
  side(n);
  return now() - start;
}
// Five distinct functions through timed() before any measurement: more than V8 inlines.
const UNRELATED: Side[] = [(n) => n, (n) => -n, (n) => n + 1, Math.abs, Math.sign];
for (const side of UNRELATED) timed(side, 1);

/** How much work a comparison times and how it warms up. */
interface Workload {
  /** Units of work per timed call. */
  units: number;
  /** Operations per unit (for the ns-per-operation figures). */
  opsPerUnit: number;
  /** Units per warm-up call: a small number makes many short calls. */
  warmUnits: number;
}

/**
 * Times `emulated` and `baseline` in alternating rounds (so that a burst of load from
 * elsewhere on the machine hits both sides alike); returns the median of the per-round
 * ratios and each side's fastest round, in ns per operation.
 */
function interleaved(
  rounds: number,
  work: Workload,
  emulated: Side,
  baseline: Side,
): Report {
  const ratios: number[] = [];
  let fastest = Infinity;
  let fastestBaseline = Infinity;
  // Warm-up, not counted, in many short calls of each side. V8 first runs a function in a
  // quick tier (Maglev), several times slower than its optimized code. And a function
  // whose first call is one long loop gets that loop compiled mid-run (on-stack
  // replacement), before the code after the loop has run: that version keeps a loop's
  // accumulator as a boxed number, deoptimizes at the loop's end and is entered again on
  // the next call, so a long-loop benchmark can time it for good (measured: 4.7 or 9-11
  // ns per hit from run to run). Short calls get each side compiled whole.
  for (const until = now() + WARMUP_MS; now() < until;) {
    timed(emulated, work.warmUnits);
    timed(baseline, work.warmUnits);
  }
  for (let r = 0; r < rounds; r++) {
    const e = timed(emulated, work.units);
    const b = timed(baseline, work.units);
    ratios.push(e / b);
    fastest = Math.min(fastest, e);
    fastestBaseline = Math.min(fastestBaseline, b);
  }
  const ops = work.units * work.opsPerUnit;
  return {
    ratio: median(ratios),
    emulatedNs: (fastest * 1e6) / ops,
    baselineNs: (fastestBaseline * 1e6) / ops,
  };
}

function hit(proc: Proc): Report {
  const base = proc.mmap(HIT_REGION);
  const words = HIT_REGION / 4;
  const index = randomWords(HIT_LOADS, words);
  // Fractional values, as a tensor holds: summing them, both sides add doubles.
  const plain = Float32Array.from({ length: words }, (_, w) => (w % 7) + 0.25);
  for (let w = 0; w < words; w++) proc.storeF32(base + 4 * w, plain[w]); // makes it resident
  for (let w = 0; w < words; w++) plain[w] = proc.loadF32(base + 4 * w);
  let sink = 0;
  const work = { units: HIT_LOADS, opsPerUnit: 1, warmUnits: 4096 };
  // Each side is its own loop: one loop shared through a callback would cost a call per
  // load on both sides.
  const hits: Side = (n) => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += proc.loadF32(base + 4 * index[i]);
    sink += sum;
  };
  const readPlain: Side = (n) => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += plain[index[i]];
    sink += sum;
  };
  const report = interleaved(ROUNDS, work, hits, readPlain);
  // The same reads by byte offset through a DataView: the process API's own addressing
  // (a little-endian f32 at a byte address), the other baseline the issue names.
  const bytes = new DataView(plain.buffer);
  const byDataView = interleaved(ROUNDS, work, hits, (n) => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += bytes.getFloat32(4 * index[i], true);
    sink += sum;
  });
  const lookup = bareTranslation(base, plain);
  const bare = interleaved(ROUNDS, work, (n) => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += lookup(base + 4 * index[i]);
    sink += sum;
  }, readPlain);
  return {
    ...report,
    dataView: byDataView.ratio,
    dataViewNs: byDataView.baselineNs,
    bare: bare.ratio,
    sink,
  };
}

/**
 * What a minimal software translation of a 47-bit virtual address costs here: a
 * direct-mapped 512-entry table from line to buffer offset, the same arithmetic as the
 * process API's hit path, over a plain array holding the region's lines, with no
 * residency, pinning, statistics or recency. A reference point for the hit benchmark.
 */
function bareTranslation(base: number, lines: Float32Array): (addr: number) => number {
  const start = new Float64Array(512).fill(NaN);
  const offset = new Int32Array(512);
  for (let line = 0; line < lines.length / 1024; line++) {
    const vline = base / PAGE + line;
    start[vline & 511] = vline * PAGE;
    offset[vline & 511] = line * PAGE;
  }
  return (addr: number): number => {
    const lo = addr | 0;
    const i = (lo >>> 12) & 511;
    const o = lo & 0xffc;
    if (addr - o === start[i]) return lines[(offset[i] + o) >>> 2];
    throw new Error(`bareTranslation: ${addr} is outside the region`);
  };
}

function bulk(proc: Proc): Report {
  const base = proc.mmap(HIT_REGION);
  const lines = HIT_REGION / PAGE;
  const plain = Float32Array.from({ length: HIT_REGION / 4 }, (_, i) => i % 7);
  proc.store(base, plain);
  const passes = 8;
  let sink = 0;
  let sum = 0;
  const add = (values: Float32Array) => {
    let s = 0;
    for (let k = 0; k < values.length; k++) s += values[k];
    sum += s;
  };
  const work = { units: passes, opsPerUnit: lines, warmUnits: 1 };
  const report = interleaved(ROUNDS, work, (n) => {
    for (let pass = 0; pass < n; pass++) {
      for (let line = 0; line < lines; line++) {
        proc.forEachF32(base + line * PAGE, PAGE / 4, false, add);
      }
    }
  }, (n) => {
    for (let pass = 0; pass < n; pass++) {
      for (let line = 0; line < lines; line++) {
        let s = 0;
        for (let k = line * 1024, end = k + 1024; k < end; k++) s += plain[k];
        sum += s;
      }
    }
  });
  sink += sum;
  return { ...report, sink };
}

function bulkCopy(proc: Proc): Report {
  const base = proc.mmap(HIT_REGION);
  const lines = HIT_REGION / PAGE;
  const plain = Float32Array.from({ length: HIT_REGION / 4 }, (_, i) => i % 7);
  proc.store(base, plain);
  const shared = new Float32Array(new SharedArrayBuffer(HIT_REGION));
  shared.set(plain);
  const target = new Float32Array(PAGE / 4);
  const passes = 64;
  let sink = 0;
  const work = { units: passes, opsPerUnit: lines, warmUnits: 1 };
  const copyPlain: Side = (n) => {
    for (let pass = 0; pass < n; pass++) {
      for (let line = 0; line < lines; line++) {
        target.set(plain.subarray(line * 1024, (line + 1) * 1024));
      }
      sink += target[0];
    }
  };
  const report = interleaved(ROUNDS, work, (n) => {
    for (let pass = 0; pass < n; pass++) {
      for (let line = 0; line < lines; line++) proc.loadInto(base + line * PAGE, target);
      sink += target[0];
    }
  }, copyPlain);
  // What V8 itself charges for copying out of shared memory: the same copies from a
  // SharedArrayBuffer (the ExCache is one) into the same target.
  const floor = interleaved(ROUNDS, work, (n) => {
    for (let pass = 0; pass < n; pass++) {
      for (let line = 0; line < lines; line++) {
        target.set(shared.subarray(line * 1024, (line + 1) * 1024));
      }
      sink += target[0];
    }
  }, copyPlain);
  return { ...report, floor: floor.ratio, sink };
}

function miss(proc: Proc): Report {
  const base = proc.mmap(MISS_PAGES * PAGE);
  // Write every page so that memory holds it: from then on every access is a real fetch.
  for (let page = 0; page < MISS_PAGES; page++) proc.storeU32(base + page * PAGE, page);
  for (let page = 0; page < MISS_PAGES; page++) proc.loadU32(base + page * PAGE);
  let sink = 0;
  const before = proc.counters();
  const ms = best(3, () => {
    for (let page = 0; page < MISS_PAGES; page++) sink += proc.loadU32(base + page * PAGE);
  });
  const after = proc.counters();
  // The same misses against this thread's own round trips to the monitor, in alternating
  // blocks: a sched_yield is a round trip through the same wait/notify and the same
  // monitor loop as a miss, answered at once. Alternating blocks a few hundred µs long see
  // the same host: how fast it wakes a sleeping thread swings by several times from one
  // moment to the next (whether the two threads share a core, whether that core idled).
  let missMs = 0;
  let yieldMs = 0;
  const blockRatios: number[] = [];
  for (let pass = 0; pass < INTERLEAVED_PASSES; pass++) {
    for (let first = 0; first < MISS_PAGES; first += MISS_BLOCK) {
      const start = now();
      for (let page = first; page < first + MISS_BLOCK; page++) {
        sink += proc.loadU32(base + page * PAGE);
      }
      const missed = now();
      for (let k = 0; k < MISS_BLOCK; k++) proc.schedYield();
      const yielded = now();
      if (pass === 0) continue;
      missMs += missed - start;
      yieldMs += yielded - missed;
      blockRatios.push((missed - start) / (yielded - missed));
    }
  }
  const interleaved = (INTERLEAVED_PASSES - 1) * MISS_PAGES;
  return {
    missUs: (ms * 1000) / MISS_PAGES,
    interleavedMissUs: (missMs * 1000) / interleaved,
    yieldUs: (yieldMs * 1000) / interleaved,
    medianBlockRatio: median(blockRatios),
    fetched: after.pagesFetched - before.pagesFetched,
    accesses: 3 * MISS_PAGES,
    sink,
  };
}

/** µs per round trip to the monitor (`schedYield`), mean of a long run after a warm-up. */
function yields(proc: Proc): Report {
  for (let k = 0; k < 200; k++) proc.schedYield();
  const start = now();
  for (let k = 0; k < YIELD_CHECK_TRIPS; k++) proc.schedYield();
  return { yieldUs: ((now() - start) * 1000) / YIELD_CHECK_TRIPS };
}

interface RateJob {
  base: number;
  accesses: number;
  barrier: number;
  threads: number;
}

/** One thread of the access-rate benchmark: a mix of f32 loads and stores that hit. */
export function rateThread(proc: Proc, job: RateJob): number {
  const words = (64 * 1024) / 4;
  const region = job.base + PAGE + proc.tid * 64 * 1024;
  for (let w = 0; w < words; w += 1024) proc.storeF32(region + 4 * w, 0);
  proc.fetchAdd(job.barrier, 1);
  while (proc.loadI32(job.barrier) < job.threads) { /* start together */ }
  const start = now();
  let x = 1;
  for (let i = 0; i < job.accesses; i += 2) {
    x = (x * 1103515245 + 12345) & 0x3fff;
    const at = region + 4 * x;
    proc.storeF32(at, proc.loadF32(at) + 1);
  }
  proc.log(`bench ${JSON.stringify({ start, end: now() })}`);
  return 0;
}

function rate(proc: Proc, threads: number): Report {
  const base = proc.mmap(PAGE + threads * 64 * 1024);
  const job = { base, accesses: 4_000_000, barrier: base, threads };
  const tids = [];
  for (let t = 1; t < threads; t++) tids.push(proc.spawn("rateThread", job));
  rateThread(proc, job);
  for (const tid of tids) proc.join(tid);
  return { accesses: threads * job.accesses };
}

/** The benchmark workload: `args[0]` names the measurement. */
export function main(proc: Proc): number {
  const mode = proc.args[0];
  const report = mode === "hit"
    ? hit(proc)
    : mode === "bulk"
    ? bulk(proc)
    : mode === "bulk-copy"
    ? bulkCopy(proc)
    : mode === "miss"
    ? miss(proc)
    : mode === "yield"
    ? yields(proc)
    : rate(proc, Number(proc.args[1] ?? "1"));
  proc.log(`bench ${JSON.stringify(report)}`);
  return 0;
}

// ── the benchmark side ──

/**
 * Runs this file as a workload in a fresh cluster; returns what its threads logged.
 * `alongside` runs just before and just after the workload, with the cluster up.
 */
async function runWorkload(
  args: string[],
  processor: Record<string, unknown>,
  alongside?: (cluster: Cluster) => Promise<void>,
): Promise<Report[]> {
  const { startCluster } = await import("../mod.ts");
  const reports: Report[] = [];
  const cluster = await startCluster({
    components: [
      { id: "gm", role: "manager" },
      { id: "p0", role: "processor", options: processor },
      { id: "m0", role: "memory", options: { dramBytes: 64 * 1024 * 1024 } },
      { id: "s0", role: "storage" },
    ],
  }, {
    log: (_, message) => {
      const at = message.indexOf("bench ");
      if (at >= 0) reports.push(JSON.parse(message.slice(at + 6)));
    },
  });
  try {
    await alongside?.(cluster);
    const result = await cluster.run(import.meta.url, args);
    if (result.exitCode !== 0) throw new Error(`bench workload failed: ${result.error}`);
    await alongside?.(cluster);
  } finally {
    await cluster.stop();
  }
  return reports;
}

/** What the bench writes into the pages it fetches with bare RPCs. */
const FILL_PAGE = new Uint8Array(PAGE).fill(1);
/** The payload of the bare `SYS_PING` RPC: none. */
const NO_DATA = new Uint8Array(0);

/**
 * The half of a miss that is messages, with no thread, cache or eviction work: a process
 * made for it on m0, whose pages memory holds, and two calls p0's RPC node makes as the
 * page service does (in model time, `{ model }`): a `P2M_PAGE_FETCH` of one of its pages
 * (4 KiB reply), and a `SYS_PING` with no payload either way, whose m0 handler does
 * nothing (the same RPC with no memory-side service and no page).
 */
interface FetchRig {
  fetch(): Promise<unknown>;
  ping(): Promise<unknown>;
  close(): Promise<void>;
}

async function fetchRig(cluster: Cluster, pid: number): Promise<FetchRig> {
  const rpc = cluster.rpc.get("p0")!;
  const m0 = cluster.rpc.get("m0")!;
  if (!pingHandled.has(m0)) {
    m0.handle({ SYS_PING: () => ({ data: NO_DATA }) });
    pingHandled.add(m0);
  }
  await rpc.call("m0", "P2M_FORK", { pid, parentPid: 0 });
  const { addr } = await rpc.call("m0", "P2M_MMAP", {
    pid,
    addr: 0,
    length: 1 << 20,
    prot: 3,
    flags: 0x22, // MAP_PRIVATE | MAP_ANONYMOUS
    path: "",
    offset: 0,
  });
  for (let i = 0; i < 256; i++) {
    await rpc.call("m0", "P2M_PAGE_FLUSH", { pid, vaddr: addr + i * PAGE, page: FILL_PAGE });
  }
  let i = 0;
  let atNs = 0;
  const modeled = async (call: (model: { atNs: number }) => Promise<unknown>) => {
    const model = { atNs };
    await call(model);
    atNs += 10_000;
  };
  return {
    fetch: () =>
      modeled((model) =>
        rpc.call("m0", "P2M_PAGE_FETCH", { pid, vaddr: addr + (i++ % 256) * PAGE }, { model })
      ),
    ping: () => modeled((model) => rpc.call("m0", "SYS_PING", { data: NO_DATA }, { model })),
    close: () => rpc.call("m0", "P2M_EXIT", { pid }).then(() => {}, () => {}),
  };
}
const pingHandled = new WeakSet<object>();

/** Median µs of `rounds` calls of `call` back to back (hot: no sleep in between). */
async function backToBackUs(rounds: number, call: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 100; i++) await call();
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    await call();
    times.push((performance.now() - start) * 1000);
  }
  return median(times);
}

/**
 * Round trips of an Atomics.wait/notify exchange with a Worker: the Worker wakes the
 * main thread (which waits with `waitAsync`, as the processor monitor does) and sleeps
 * until the main thread wakes it back. Round trip `k` runs `serves[k % serves.length]`
 * (if any) between the main thread being woken and it waking the Worker, as the monitor
 * serves a miss. Returns, per entry of `serves`, the µs of its round trips: their mean,
 * and their median (each timed from one wake-up of the main thread to the next).
 */
async function workerRoundTrips(
  rounds: number,
  serves: (undefined | (() => Promise<unknown>))[] = [undefined],
): Promise<{ meanUs: number; medianUs: number }[]> {
  // Each side counts the exchanges in its own word (no flag is ever reset, so no store
  // can undo the other side's): the Worker posts exchange i and sleeps until the main
  // thread has answered it.
  const source = `
    self.onmessage = ({ data: { sab, rounds } }) => {
      const ctl = new Int32Array(sab);
      for (let i = 1; i <= rounds; i++) {
        Atomics.store(ctl, 0, i);
        Atomics.notify(ctl, 0);
        let answered;
        while ((answered = Atomics.load(ctl, 1)) < i) Atomics.wait(ctl, 1, answered);
      }
      self.postMessage("done");
    };`;
  const url = URL.createObjectURL(new Blob([source], { type: "application/javascript" }));
  const worker = new Worker(url, { type: "module" });
  const sab = new SharedArrayBuffer(8);
  const ctl = new Int32Array(sab);
  const done = new Promise((resolve) => worker.onmessage = resolve);
  const times: number[][] = serves.map(() => []);
  try {
    worker.postMessage({ sab, rounds: rounds + 1 });
    let woken = 0;
    // Round trip 0 starts at the first wake-up: the worker's start-up is not a round trip.
    for (let served = 0; served <= rounds; served++) {
      while (Atomics.load(ctl, 0) <= served) {
        const waiting = Atomics.waitAsync(ctl, 0, served);
        if (waiting.async) await waiting.value;
      }
      const now = performance.now();
      if (served > 0) times[(served - 1) % serves.length].push((now - woken) * 1000);
      woken = now;
      if (served < rounds) await serves[served % serves.length]?.();
      Atomics.store(ctl, 1, served + 1);
      Atomics.notify(ctl, 1);
    }
    await done;
    return times.map((t) => ({
      meanUs: t.reduce((a, b) => a + b, 0) / t.length,
      medianUs: median(t),
    }));
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
  }
}

/** Mean µs of a bare Worker round trip ({@link workerRoundTrips}), `rounds` of them. */
async function workerRoundTripUs(rounds: number): Promise<number> {
  return (await workerRoundTrips(rounds))[0].meanUs;
}

/** What a miss round measures beside the misses, same cluster. */
interface MissFloor {
  /** Bare Worker round trip, µs (mean; best of the runs before and after the misses). */
  rttUs: number;
  /**
   * Medians of interleaved round trips: bare, with the `SYS_PING` RPC, with the
   * `P2M_PAGE_FETCH` RPC (best of before and after the misses), µs.
   */
  splitUs: [number, number, number];
  /** The same fetch RPC back to back, µs (hot caches, no sleep in between). */
  hotFetchUs: number;
}

/** Measures a {@link MissFloor} in `cluster`, keeping the lower of each value in `into`. */
async function missFloor(cluster: Cluster, pid: number, into: Partial<MissFloor>): Promise<void> {
  const rig = await fetchRig(cluster, pid);
  const least = (a: number | undefined, b: number) => Math.min(a ?? b, b);
  try {
    for (let k = 0; k < 2; k++) into.rttUs = least(into.rttUs, await workerRoundTripUs(500));
    // Interleaved round by round, so that load from elsewhere on the machine hits each alike.
    const split = await workerRoundTrips(1500, [undefined, rig.ping, rig.fetch]);
    into.splitUs = split.map((s, i) => least(into.splitUs?.[i], s.medianUs)) as MissFloor[
      "splitUs"
    ];
    into.hotFetchUs = least(into.hotFetchUs, await backToBackUs(1000, rig.fetch));
  } finally {
    await rig.close();
  }
}

const ratio = (value: number, baseline: number, goal: string, note: string): Metric => ({
  value: value / baseline,
  unit: "x",
  baseline,
  ratio: value / baseline,
  goal,
  note,
});

/** A metric from {@link interleaved} rounds: the median per-round ratio. */
const roundsRatio = (r: Report, goal: string | undefined, what: string): Metric => ({
  value: r.ratio,
  unit: "x",
  baseline: r.baselineNs,
  ratio: r.ratio,
  ...(goal ? { goal } : {}),
  note: `${what}: median over ${ROUNDS} alternating rounds (after ${WARMUP_MS} ms of ` +
    "untimed warm-up in short calls, so that V8 has compiled each side as a whole " +
    "function) of (emulated time / baseline " +
    `time); fastest emulated ${r.emulatedNs.toFixed(2)} ns per op; baseline = fastest ` +
    "plain round, ns per op",
});

/**
 * The ExCache benchmark cases.
 *
 * @example
 * ```ts ignore
 * import { benchmarks } from "./excache_bench.ts";
 * const metrics = await benchmarks[0].run(() => {});
 * console.log(metrics["excache.hit.ratio_vs_typedarray"]);
 * ```
 */
export const benchmarks: BenchCase[] = [
  {
    name: "excache.hit",
    async run() {
      const [r] = await runWorkload(["hit"], { cacheBytes: 8 << 20 });
      return {
        "excache.hit.ratio_vs_typedarray": roundsRatio(
          r,
          "<= 3x",
          `proc.loadF32 at a random 4-aligned address of a resident ${
            HIT_REGION >> 20
          } MiB region of fractional values (every load a hit, ${HIT_LOADS} loads per ` +
            "round, summed) inside a thread, against reads of a plain Float32Array of the " +
            "same size at the same random indexes in the same thread",
        ),
        "excache.hit.ratio_vs_dataview": {
          value: r.dataView,
          unit: "x",
          baseline: r.dataViewNs,
          ratio: r.dataView,
          note: "the same proc.loadF32 loads against DataView.getFloat32(4 * index, true) on " +
            "the same plain buffer (byte-addressed little-endian reads, as the process API " +
            "reads), median of alternating rounds, same thread; baseline = fastest DataView " +
            "round, ns per read",
        },
        "excache.hit.bare_translation_ratio": {
          value: r.bare,
          unit: "x",
          ratio: r.bare,
          note: "the same loads through a bare software translation (a direct-mapped " +
            "512-entry line table over a plain array, the hit path's address arithmetic and " +
            "compare with no residency, pinning, hit counting, shootdown or recency) against " +
            "the same plain reads, median of alternating rounds, same thread: what " +
            "translating a 47-bit address costs in JavaScript here before any ExCache " +
            "bookkeeping (a reference point, not a bound: V8 may compile the two differently)",
        },
      };
    },
  },
  {
    name: "excache.bulk",
    async run(progress) {
      const [r] = await runWorkload(["bulk"], { cacheBytes: 8 << 20 });
      progress(0.5);
      const [c] = await runWorkload(["bulk-copy"], { cacheBytes: 8 << 20 });
      return {
        "excache.bulk.ratio_vs_typedarray": roundsRatio(
          r,
          "<= 1.5x",
          "reading 4 KiB lines that hit as f32 ranges (proc.forEachF32 over each line, summing " +
            "the 1024 values of the line's view), against the same loop over a plain " +
            "Float32Array, same thread",
        ),
        "excache.bulk_copy.ratio_vs_typedarray": roundsRatio(
          c,
          undefined,
          "copying 4 KiB lines that hit out of the cache, proc.loadInto(addr, " +
            "Float32Array(1024)), against Float32Array.prototype.set of a 1024-float subarray " +
            "of a plain array, same thread",
        ),
        "excache.bulk_copy.floor_ratio": {
          value: c.floor,
          unit: "x",
          ratio: c.floor,
          note: "the same set() copies from a SharedArrayBuffer-backed Float32Array instead " +
            "of a plain one (median of alternating rounds, same thread): what V8 charges " +
            "for copying out of shared memory, which the ExCache is, before any emulation",
        },
      };
    },
  },
  {
    name: "excache.miss",
    async run(progress) {
      // The round trip swings by several times with the state of the host, so each of
      // MISS_ROUNDS fresh clusters times its misses against the same thread's round trips
      // to the monitor in alternating blocks; the ratio is the median of the clusters'. The
      // bare round trips and the RPCs of the breakdown are timed just before and after the
      // misses, in the same process with the cluster up.
      type Pair = MissFloor & {
        missUs: number;
        interleavedMissUs: number;
        yieldUs: number;
        medianBlockRatio: number;
      };
      const pairs: Pair[] = [];
      const loadBefore = Deno.loadavg()[0];
      for (let round = 0; round < MISS_ROUNDS; round++) {
        const floor: Partial<MissFloor> = {};
        const [r] = await runWorkload(
          ["miss"],
          { cacheBytes: 64 * 1024, replacement: "fifo" },
          (cluster) => missFloor(cluster, 4000 + round * 2 + (floor.rttUs ? 1 : 0), floor),
        );
        if (r.fetched !== r.accesses) {
          throw new Error(`expected every access to fetch, got ${r.fetched} of ${r.accesses}`);
        }
        pairs.push({
          ...(floor as MissFloor),
          missUs: r.missUs,
          interleavedMissUs: r.interleavedMissUs,
          yieldUs: r.yieldUs,
          medianBlockRatio: r.medianBlockRatio,
        });
        progress((round + 1) / (MISS_ROUNDS + 1));
      }
      // Is the thread's round trip to the monitor a bare Worker round trip? Long runs of
      // each, one after the other in one cluster (bare, schedYield, bare), twice.
      const yieldChecks: { yieldUs: number; bareUs: number }[] = [];
      for (let check = 0; check < 2; check++) {
        const bare: number[] = [];
        const [y] = await runWorkload(
          ["yield"],
          { cacheBytes: 64 * 1024 },
          async () => void bare.push(await workerRoundTripUs(YIELD_CHECK_TRIPS)),
        );
        yieldChecks.push({ yieldUs: y.yieldUs, bareUs: (bare[0] + bare[1]) / 2 });
      }
      const yieldRatio = median(yieldChecks.map((c) => c.yieldUs / c.bareUs));
      const load = `load average ${loadBefore.toFixed(2)} before, ${
        Deno.loadavg()[0].toFixed(2)
      } after (${navigator.hardwareConcurrency} cores)`;
      const ratioOf = (p: Pair) => p.interleavedMissUs / p.yieldUs;
      const separateOf = (p: Pair) => p.missUs / p.rttUs;
      const mid = [...pairs].sort((a, b) => ratioOf(a) - ratioOf(b))[MISS_ROUNDS >> 1];
      const list = (of: (p: Pair) => number) => pairs.map((p) => of(p).toFixed(2)).join(", ");
      const us = (value: number, note: string): Metric => ({
        value,
        unit: "µs",
        baseline: mid.rttUs,
        ratio: value / mid.rttUs,
        note: `${note}; same cluster and run as the median pair; baseline = its bare worker ` +
          "round trip, µs",
      });
      return {
        "excache.miss.ratio_vs_worker_rtt": ratio(
          mid.interleavedMissUs,
          mid.yieldUs,
          "<= 2x",
          "µs per miss that fetches a 4 KiB line from the memory component over the " +
            "in-memory transport (sequential reads of 1 MiB through a 64 KiB cache, clean " +
            "victims), divided by µs per worker round trip: the same thread's " +
            "proc.schedYield(), an Atomics.wait/notify round trip to the processor monitor " +
            "(waitAsync on the main thread), which answers at once. Blocks of " +
            `${MISS_BLOCK} misses and ${MISS_BLOCK} round trips alternate for ` +
            `${INTERLEAVED_PASSES - 1} passes over the region (after one untimed), so that ` +
            "both sides see the same host (how fast it wakes a sleeping thread changes by " +
            "several times from one moment to the next: see " +
            "excache.miss.separate_ratio_vs_bare_rtt); total miss time over total round-trip " +
            `time; median of ${MISS_ROUNDS} fresh clusters (${list(ratioOf)}; median block ` +
            `ratios ${list((p) => p.medianBlockRatio)}); ${load}; baseline = that ` +
            "cluster's round trip, µs",
        ),
        "excache.miss.us": {
          value: mid.interleavedMissUs,
          unit: "µs",
          baseline: mid.yieldUs,
          ratio: ratioOf(mid),
          note: "wall µs per fetched miss (as above); baseline = the thread's round trip to " +
            "the monitor in the same blocks, µs",
        },
        "excache.miss.yield_vs_bare_rtt": {
          value: yieldRatio,
          unit: "x",
          baseline: median(yieldChecks.map((c) => c.bareUs)),
          ratio: yieldRatio,
          note: `the baseline of the miss ratio checked: µs per schedYield round trip (a run of ` +
            `${YIELD_CHECK_TRIPS}) over µs per bare Atomics.wait/notify round trip between a ` +
            `fresh Worker and the main thread (runs of ${YIELD_CHECK_TRIPS} just before and ` +
            "after it, mean of the two), same cluster, twice (" +
            yieldChecks.map((c) => `${c.yieldUs.toFixed(1)} vs ${c.bareUs.toFixed(1)} µs`)
              .join(", ") +
            "); mean of the two checks; baseline = bare round trip, µs",
        },
        "excache.miss.separate_ratio_vs_bare_rtt": {
          value: separateOf(mid),
          unit: "x",
          baseline: mid.rttUs,
          ratio: separateOf(mid),
          note: "the same misses timed on their own (best of 3 passes, mean per miss) over a " +
            "bare Atomics.wait/notify round trip between a fresh Worker and the main thread " +
            "(waitAsync; best of 4 runs of 500 just before and after the misses, same " +
            "process, cluster up), same cluster as the median above. Timed in separate " +
            "windows, the two sides can meet different host states: the clusters gave " +
            `${list(separateOf)}, which is why the goal is judged on the interleaved ratio; ` +
            "baseline = the bare round trip, µs",
        },
        "excache.miss.floor_ratio_vs_worker_rtt": {
          value: mid.splitUs[2] / mid.splitUs[0],
          unit: "x",
          baseline: mid.splitUs[0],
          ratio: mid.splitUs[2] / mid.splitUs[0],
          note: "the floor of the miss ratio: a worker round trip in which the main thread, " +
            "once woken, makes the miss's P2M_PAGE_FETCH RPC from p0 to m0 (4 KiB reply, " +
            "in-memory transport, in model time as the page service makes it) before it " +
            "wakes the worker, over a bare round trip (medians of 500 of each, interleaved " +
            "with each other and with 500 round trips with a SYS_PING RPC, lower of before " +
            "and after the misses, same cluster): what a miss costs with no thread " +
            "bookkeeping, victim choice, eviction or install. A miss needs both (the thread " +
            "must wake the monitor and be woken, and the page must come from the memory " +
            "component), so the miss ratio cannot go below this",
        },
        "excache.miss.breakdown.worker_rtt_us": us(
          mid.splitUs[0],
          "of a miss, the bare worker round trip: median of the interleaved round trips " +
            "(see floor_ratio_vs_worker_rtt)",
        ),
        "excache.miss.breakdown.rpc_us": us(
          mid.splitUs[1] - mid.splitUs[0],
          "of a miss, the in-memory RPC: a round trip whose woken main thread makes a " +
            "p0 -> m0 SYS_PING RPC with no payload (in model time, as the fetch; m0's " +
            "handler does nothing), minus the bare round trip: request and reply through " +
            "the RPC layer and the memory transport, with no memory-side service",
        ),
        "excache.miss.breakdown.service_us": us(
          mid.splitUs[2] - mid.splitUs[1],
          "of a miss, the memory-side service: the round trip with the P2M_PAGE_FETCH RPC " +
            "minus the one with the SYS_PING RPC: the memory monitor's charged handler (its " +
            "model-time charge), the access check and page lookup, the copy of the page " +
            "into the reply and the larger reply",
        ),
        "excache.miss.rest_ratio": {
          value: ratioOf(mid) - mid.splitUs[2] / mid.splitUs[0],
          unit: "x",
          note: "of a miss, the rest, in round trips: the miss ratio minus its floor (each " +
            "measured within its own interleaving, same cluster), what the processor's own " +
            "miss handling (slot and victim choice, the page service's bookkeeping, " +
            "install) and the thread's side of the miss add to the round trip and the RPC",
        },
        "excache.miss.median_block_ratio": {
          value: mid.medianBlockRatio,
          unit: "x",
          note:
            `the median over the ${
              (INTERLEAVED_PASSES - 1) * (MISS_PAGES / MISS_BLOCK)
            } block pairs of the median cluster of (${MISS_BLOCK} misses / the ${MISS_BLOCK} ` +
            "round trips to the monitor right after them): a typical block, without the " +
            "blocks a preemption or a garbage collection hit",
        },
        "excache.miss.breakdown.hot_fetch_rpc_us": us(
          mid.hotFetchUs,
          "the same P2M_PAGE_FETCH RPC back to back, 1000 times (median, hot: the main thread " +
            "never sleeps in between). Inside a miss the main thread has just woken from a " +
            "sleep; the difference to breakdown.rpc_us + breakdown.service_us is what " +
            "running right after a wake-up costs (caches and predictors cold after the " +
            "context switch), the host's, not the code's",
        ),
      };
    },
  },
  {
    name: "excache.accesses_per_s",
    async run(progress) {
      const metrics: Record<string, Metric> = {};
      for (const threads of [1, 4]) {
        const reports = await runWorkload(["rate", String(threads)], { cacheBytes: 8 << 20 });
        const spans = reports.filter((r) => r.start !== undefined);
        const total = reports.find((r) => r.accesses !== undefined)!.accesses;
        const ms = Math.max(...spans.map((r) => r.end)) - Math.min(...spans.map((r) => r.start));
        metrics[`excache.accesses_per_s.${threads}_thread${threads > 1 ? "s" : ""}`] = {
          value: (total / ms) * 1000,
          unit: "accesses/s",
          note: `${threads} thread(s) each doing f32 load+store pairs at pseudo-random ` +
            "addresses of a private resident 64 KiB region (all hits); wall time from the " +
            `first start to the last finish (${Deno.build.os}, ${navigator.hardwareConcurrency} cores)`,
        };
        progress(threads / 4);
      }
      const one = metrics["excache.accesses_per_s.1_thread"].value;
      const four = metrics["excache.accesses_per_s.4_threads"];
      four.baseline = one;
      four.ratio = four.value / one;
      return metrics;
    },
  },
];
