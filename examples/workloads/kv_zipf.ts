/**
 * A key-value store in emulated memory driven by a YCSB-like mix with zipfian keys: for
 * studies of skew (how much of the working set a cache of a given size really needs).
 *
 * The store: an open-addressing index (16-byte slots: key, record number) in front of a
 * heap of fixed-size records (1 KiB by default, YCSB's 10 fields × 100 bytes). The load
 * phase inserts `records` keys, split over the threads. The run phase has each thread do
 * its share of `ops` operations: a read (look the key up, read the whole record) with
 * probability `read`, else an update (look up, rewrite one 100-byte field). Keys are drawn
 * from a zipfian distribution of exponent `theta` (Gray et al.'s generator, as YCSB's),
 * scrambled by a hash so that hot keys are spread over the heap.
 *
 * Each thread's draws come from its own seeded stream, so the sequence of operations is
 * fixed by the seed; the exit code is 1 if a key that was loaded is not found.
 *
 * Arguments (`key=value`): `scale` (default 1: 1 M records, about 1 GiB), `threads` (4),
 * `seed` (1), `read` (0.95, YCSB-B; 0.5 is YCSB-A), `theta` (0.99), `opsPerRecord` (2),
 * `recordBytes` (1024).
 *
 * @module
 */

import type { Proc } from "../../kernel/process_api.ts";

const PAGE = 4096;
const SLOT_BYTES = 16;
const FIELD_BYTES = 100;
/** Records at `scale=1`. */
export const FULL_RECORDS = 1_000_000;

interface Job {
  records: number;
  recordBytes: number;
  index: number;
  slots: number;
  heap: number;
  threads: number;
  slot: number;
  seed: number;
  read: number;
  theta: number;
  ops: number;
  found: number;
}

/** Runs the load and the mix; exit 0 when every key was found. */
export function main(proc: Proc): number {
  const a = parseWorkloadArgs(proc.args, {
    scale: { default: 1, min: 1e-6, max: 4 },
    threads: { default: 4, min: 1, max: 64, integer: true },
    seed: { default: 1, min: 0, max: 2 ** 32 - 1, integer: true },
    read: { default: 0.95, min: 0, max: 1 },
    theta: { default: 0.99, min: 0.01, max: 0.999 },
    opsPerRecord: { default: 2, min: 0, max: 1000 },
    recordBytes: { default: 1024, min: FIELD_BYTES, max: 65536, integer: true },
  });
  const records = Math.max(a.threads, Math.round(FULL_RECORDS * a.scale));
  let slots = 1;
  while (slots < records * 2) slots *= 2;
  const job: Job = {
    records,
    recordBytes: a.recordBytes,
    index: proc.mmap(slots * SLOT_BYTES),
    slots,
    heap: proc.mmap(Math.ceil((records * a.recordBytes) / PAGE) * PAGE),
    threads: a.threads,
    slot: 0,
    seed: a.seed,
    read: a.read,
    theta: a.theta,
    ops: Math.round(records * a.opsPerRecord),
    found: proc.mmap(PAGE),
  };
  proc.log(
    `kv_zipf: ${records} records of ${a.recordBytes} B, ${job.ops} ops, read ${a.read}, ` +
      `theta ${a.theta}, ${a.threads} threads`,
  );
  parallel(proc, job, "loader");
  parallel(proc, job, "runner");
  let missing = 0;
  let reads = 0;
  for (let t = 0; t < a.threads; t++) {
    missing += proc.loadU32(job.found + 16 * t);
    reads += proc.loadU32(job.found + 16 * t + 4);
  }
  proc.log(`kv_zipf: ${reads} reads, ${job.ops - reads} updates, ${missing} keys missing`);
  return missing === 0 ? 0 : 1;
}

function parallel(proc: Proc, job: Job, entry: "loader" | "runner"): void {
  const tids: number[] = [];
  for (let slot = 1; slot < job.threads; slot++) tids.push(proc.spawn(entry, { ...job, slot }));
  if (entry === "loader") loader(proc, job);
  else runner(proc, job);
  for (const tid of tids) proc.join(tid);
}

/** The key of record `i`: a scrambled 32-bit number, never 0 (0 marks an empty slot). */
function keyOf(seed: number, i: number): number {
  return (mixSeed(seed, i, 0x6b6579) | 1) >>> 0;
}

/** Thread entry: inserts this thread's slice of the records. */
export function loader(proc: Proc, job: Job): number {
  const per = Math.ceil(job.records / job.threads);
  const from = Math.min(job.records, job.slot * per);
  const to = Math.min(job.records, from + per);
  const record = new Uint8Array(job.recordBytes);
  for (let i = from; i < to; i++) {
    const key = keyOf(job.seed, i);
    record.fill(i & 0xff);
    proc.store(job.heap + i * job.recordBytes, record);
    let s = key & (job.slots - 1);
    // Threads insert different keys; a compare-exchange on the key word claims a slot.
    for (;;) {
      const at = job.index + s * SLOT_BYTES;
      if (proc.compareExchange(at, 0, key | 0) === 0) {
        proc.storeU32(at + 4, i);
        break;
      }
      s = (s + 1) & (job.slots - 1);
    }
    declareWork(proc, { flops: 40, bytes: job.recordBytes + SLOT_BYTES });
  }
  return 0;
}

/**
 * A zipfian sampler over `0..n-1` with exponent `theta` (Gray et al., "Quickly generating
 * billion-record synthetic databases", SIGMOD 1994; YCSB's ZipfianGenerator).
 *
 * @example
 * ```ts
 * import { zipfian } from "./kv_zipf.ts";
 * const next = zipfian(1000, 0.99, () => 0.5);
 * console.assert(next() >= 0 && next() < 1000);
 * ```
 */
export function zipfian(n: number, theta: number, random: () => number): () => number {
  let zetan = 0;
  for (let i = 1; i <= n; i++) zetan += 1 / Math.pow(i, theta);
  const zeta2 = 1 + 1 / Math.pow(2, theta);
  const alpha = 1 / (1 - theta);
  const eta = (1 - Math.pow(2 / n, 1 - theta)) / (1 - zeta2 / zetan);
  const half = Math.pow(0.5, theta);
  return () => {
    const u = random();
    const uz = u * zetan;
    if (uz < 1) return 0;
    if (uz < 1 + half) return 1;
    return Math.min(n - 1, Math.floor(n * Math.pow(eta * u - eta + 1, alpha)));
  };
}

/** Thread entry: this thread's share of the operation mix. */
export function runner(proc: Proc, job: Job): number {
  const random = seeded(mixSeed(job.seed, job.slot, 0x72756e));
  const rank = zipfian(job.records, job.theta, random);
  const ops = Math.floor(job.ops / job.threads) + (job.slot < job.ops % job.threads ? 1 : 0);
  const record = new Uint8Array(job.recordBytes);
  const field = new Uint8Array(FIELD_BYTES);
  let missing = 0;
  let reads = 0;
  let checksum = 0;
  for (let op = 0; op < ops; op++) {
    // Scramble the rank so the hottest records are not neighbours in the heap.
    const i = mixSeed(job.seed, rank(), 0x5c7a) % job.records;
    const key = keyOf(job.seed, i);
    let s = key & (job.slots - 1);
    let found = -1;
    for (let probe = 0; probe < job.slots; probe++) {
      const at = job.index + s * SLOT_BYTES;
      const k = proc.loadU32(at);
      if (k === key) {
        found = proc.loadU32(at + 4);
        break;
      }
      if (k === 0) break;
      s = (s + 1) & (job.slots - 1);
    }
    if (found < 0) {
      missing++;
      continue;
    }
    const base = job.heap + found * job.recordBytes;
    if (random() < job.read) {
      proc.loadInto(base, record);
      checksum = (checksum + record[0] + record[job.recordBytes - 1]) | 0;
      reads++;
      declareWork(proc, { flops: 60, bytes: job.recordBytes + SLOT_BYTES });
    } else {
      const f = Math.floor(random() * Math.floor(job.recordBytes / FIELD_BYTES));
      field.fill((op + job.slot) & 0xff);
      proc.store(base + f * FIELD_BYTES, field);
      declareWork(proc, { flops: 60, bytes: FIELD_BYTES + SLOT_BYTES });
    }
  }
  proc.storeU32(job.found + 16 * job.slot, missing);
  proc.storeU32(job.found + 16 * job.slot + 4, reads);
  proc.storeU32(job.found + 16 * job.slot + 8, checksum >>> 0);
  return 0;
}

// ── helpers, inlined because a sandboxed thread may read only its own module ──

/** How one numeric argument is checked. */
interface NumberArg {
  /** Value when the argument is absent. */
  default: number;
  /** Smallest allowed value. */
  min: number;
  /** Largest allowed value. */
  max: number;
  /** Whether only integers are allowed. */
  integer?: boolean;
}

/**
 * Parses `args` (each `key=value`) against `spec`; throws a `RangeError` naming the
 * argument for an unknown key, a malformed pair, a non-number or a value out of range.
 */
function parseWorkloadArgs<K extends string>(
  args: readonly string[],
  spec: Record<K, NumberArg>,
): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const key of Object.keys(spec) as K[]) out[key] = spec[key].default;
  const known = Object.keys(spec).join(", ");
  for (const arg of args) {
    const eq = arg.indexOf("=");
    if (eq <= 0) throw new RangeError(`argument "${arg}" is not key=value (keys: ${known})`);
    const key = arg.slice(0, eq) as K;
    if (!Object.hasOwn(spec, key)) {
      throw new RangeError(`unknown argument "${key}" (keys: ${known})`);
    }
    const text = arg.slice(eq + 1);
    const value = Number(text);
    const { min, max, integer } = spec[key];
    if (text.trim() === "" || !Number.isFinite(value)) {
      throw new RangeError(`argument ${key} must be a number, got "${text}"`);
    }
    if ((integer && !Number.isInteger(value)) || value < min || value > max) {
      throw new RangeError(
        `argument ${key} must be ${
          integer ? "an integer" : "a number"
        } in ${min}..${max}, got ${text}`,
      );
    }
    out[key] = value;
  }
  return out;
}

/**
 * A seeded 32-bit generator (mulberry32) yielding numbers in [0, 1): the workloads' only
 * source of randomness, so one seed fixes their data and choices.
 */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes integers into one 32-bit seed (so thread t of seed s gets its own stream). */
function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** Declares work to the model clock: the emulated CPU's roofline turns it into time. */
function declareWork(proc: Proc, work: { flops: number; bytes: number }): void {
  proc.compute(work);
}
