import type { Proc } from "../../mod.ts";

/**
 * Misses and write-backs at chosen model times, for the queueing and parallel-charging
 * tests (`tests/monitors/processor/model_queueing_test.ts`).
 *
 * `args[0]` is JSON:
 * - `mode`: `"fetch"` — every page of `pages` is written, written back (`msync`) and then
 *   evicted (by reading `evictPages` fresh pages), so that memory holds it and the
 *   ExCache does not; then one thread per entry of `at` waits (declared compute) until
 *   model time `at[k]` and reads page `pages[k]`: a fetch. Each thread logs
 *   `model_burst fetch <latency of its read, ns>`.
 *   `"msync"` — the first page is written and written back (so the vRegion's owner is
 *   known), then every page of `pages` is written and the thread waits until `at[0]` and
 *   `msync`s them all. Logs `model_burst msync <latency of the msync, ns>`.
 * - `mapBytes`: the mapping's length; `pages`: byte offsets of pages in it.
 * - `flopsPerNs`: the latency model's peak FLOP/ns, to turn a wait into declared compute.
 */
export interface BurstSpec {
  mode: "fetch" | "msync";
  mapBytes: number;
  pages: number[];
  at: number[];
  evictPages?: number;
  /** Per thread of `at`: first miss on a fresh page of its own (an event), then read. */
  touchFirst?: boolean[];
  flopsPerNs: number;
}

const PAGE = 4096;

/** Runs the spec; returns 0. */
export function main(proc: Proc): number {
  const spec = JSON.parse(proc.args[0]) as BurstSpec;
  const base = proc.mmap(spec.mapBytes);
  if (spec.mode === "msync") {
    proc.store(base + spec.pages[0], new Uint8Array([1]));
    proc.msync(base + spec.pages[0], PAGE);
    spec.pages.forEach((offset, k) => proc.store(base + offset, new Uint8Array([k + 2])));
    const start = waitUntil(proc, spec.at[0], spec.flopsPerNs);
    proc.msync(base, spec.mapBytes);
    proc.log(`model_burst msync ${proc.counters().modelNs - start}`);
    return 0;
  }
  spec.pages.forEach((offset, k) => proc.store(base + offset, new Uint8Array([k + 1])));
  proc.msync(base, spec.mapBytes);
  const fresh = proc.mmap((spec.evictPages ?? 0) * PAGE);
  for (let i = 0; i < (spec.evictPages ?? 0); i++) proc.load(fresh + i * PAGE, 1);
  const spare = proc.mmap(spec.at.length * PAGE);
  const tids = spec.at.map((at, k) =>
    proc.spawn("fetch", {
      addr: base + spec.pages[k],
      at,
      flopsPerNs: spec.flopsPerNs,
      first: spec.touchFirst?.[k] ? spare + k * PAGE : undefined,
    })
  );
  for (const tid of tids) proc.join(tid);
  return 0;
}

/**
 * Waits until model time `at`, touches the fresh page at `first` (when given), reads the
 * page at `addr` and logs what the read cost; with `first`, also logs the model time the
 * read began (`model_burst began <ns>`).
 */
export function fetch(proc: Proc, arg: unknown): void {
  const { addr, at, flopsPerNs, first } = arg as {
    addr: number;
    at: number;
    flopsPerNs: number;
    first?: number;
  };
  let start = waitUntil(proc, at, flopsPerNs);
  if (first !== undefined) {
    proc.load(first, 1);
    start = proc.counters().modelNs;
    proc.log(`model_burst began ${start}`);
  }
  proc.load(addr, 1);
  proc.log(`model_burst fetch ${proc.counters().modelNs - start}`);
}

/**
 * Declares compute until the thread's model time reaches `at`; returns `at`. No system
 * call follows the compute, so the thread's next access is its next event (a miss reaches
 * the monitor at model time `at`).
 */
function waitUntil(proc: Proc, at: number, flopsPerNs: number): number {
  const now = proc.counters().modelNs;
  if (now > at) throw new Error(`model time ${now} ns is already past ${at} ns`);
  proc.compute({ flops: (at - now) * flopsPerNs });
  return at;
}
