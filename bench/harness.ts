/**
 * What a benchmark file provides, and small helpers to time things.
 *
 * Each `bench/*_bench.ts` file exports `benchmarks: BenchCase[]`. `bench/run.ts` runs
 * the cases (all, or those whose name contains a filter), shows progress, prints a
 * table and merges the metrics into `bench/results.json`.
 *
 * Every speed claim is a ratio against a baseline measured in the same run, because
 * wall-clock numbers on a shared 2-core machine are noisy.
 *
 * @module
 */

/** One reported number. Keys of the results file are `area.metric`. */
export interface Metric {
  /** The measured value. */
  value: number;
  /** Its unit, e.g. `ops/s`, `µs`, `x` (a ratio). */
  unit: string;
  /** The baseline measured in the same run, when `value` is compared with one. */
  baseline?: number;
  /** `value / baseline` (or the inverse, as `note` says). */
  ratio?: number;
  /** The target, e.g. `<= 1.3x`. */
  goal?: string;
  /** What exactly was measured. */
  note?: string;
}

/** A named benchmark that reports one or more metrics. */
export interface BenchCase {
  /** Name used by the filter, e.g. `codec.page`. */
  name: string;
  /** Takes minutes or gigabytes: left out of a run without a filter, run it by name. */
  long?: boolean;
  /** Runs the case; calls `progress` with a fraction in [0, 1] as it goes. */
  run(progress: (fraction: number) => void): Promise<Record<string, Metric>>;
}

/** Result of {@link timeOps}. */
export interface Timing {
  /** Operations completed. */
  ops: number;
  /** Wall time they took, in milliseconds. */
  ms: number;
  /** Operations per second. */
  perSecond: number;
  /** Mean time per operation in microseconds. */
  meanUs: number;
}

/**
 * Runs `batch` (which performs `batchSize` operations) repeatedly for at least `minMs`
 * milliseconds after a short warm-up, and reports the rate.
 *
 * @example
 * ```ts
 * import { timeOps } from "./harness.ts";
 * const t = await timeOps(() => { Math.sqrt(2); }, { batchSize: 1, minMs: 5 });
 * console.assert(t.ops > 0);
 * ```
 */
export async function timeOps(
  batch: () => unknown,
  options: { batchSize?: number; minMs?: number; warmupMs?: number } = {},
): Promise<Timing> {
  const batchSize = options.batchSize ?? 1;
  const minMs = options.minMs ?? 300;
  const warmupMs = options.warmupMs ?? Math.min(100, minMs / 3);
  const runFor = async (ms: number) => {
    let ops = 0;
    const start = performance.now();
    let now = start;
    while (now - start < ms) {
      await batch();
      ops += batchSize;
      now = performance.now();
    }
    return { ops, ms: now - start };
  };
  await runFor(warmupMs);
  const { ops, ms } = await runFor(minMs);
  return { ops, ms, perSecond: (ops / ms) * 1000, meanUs: (ms * 1000) / ops };
}

/**
 * The median of `values` (the upper one of the middle two for an even count).
 *
 * @example
 * ```ts
 * import { median } from "./harness.ts";
 * console.assert(median([3, 1, 2]) === 2);
 * ```
 */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * Keeps `inFlight` calls of `call` outstanding for `ms` milliseconds; returns the calls
 * completed and the milliseconds that really passed.
 *
 * @example
 * ```ts
 * import { callLoop } from "./harness.ts";
 * const { ops } = await callLoop(() => Promise.resolve(), 2, 5);
 * console.assert(ops > 0);
 * ```
 */
export async function callLoop(
  call: () => Promise<unknown>,
  inFlight: number,
  ms: number,
): Promise<{ ops: number; ms: number }> {
  let ops = 0;
  const start = performance.now();
  const stopAt = start + ms;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (performance.now() < stopAt) {
      await call();
      ops++;
    }
  }));
  return { ops, ms: performance.now() - start };
}

/**
 * Runs each named measurement once as a warm-up, then `rounds` rounds of all of them in
 * turn (so a drift of the shared machine hits each alike), and returns each one's median.
 *
 * @example
 * ```ts
 * import { interleavedMedians } from "./harness.ts";
 * let n = 0;
 * const m = await interleavedMedians({ count: () => Promise.resolve(++n) }, 3, () => {});
 * console.assert(m.count === 3); // rounds gave 2, 3, 4 after the warm-up's 1
 * ```
 */
export async function interleavedMedians(
  measures: Record<string, () => Promise<number>>,
  rounds: number,
  progress: (fraction: number) => void,
): Promise<Record<string, number>> {
  const names = Object.keys(measures);
  for (const name of names) await measures[name]();
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < rounds; round++) {
    for (const name of names) samples[name].push(await measures[name]());
    progress((round + 1) / rounds);
  }
  return Object.fromEntries(names.map((n) => [n, median(samples[n])]));
}
