/**
 * The chaos runs' write workload (`deno task chaos`): 4 threads (by default) each write a
 * numbered series of records, to memory (even threads) or to a file (odd threads), and
 * log every write the system has promised to keep — an **acknowledgement** — so that a
 * driver outside the cluster can later check that no acknowledged write was lost while
 * it killed components. Memory and file writers do not wait for each other, so a dead
 * storage component does not stop the memory writes, nor a dead manager the file writes.
 *
 * Thread `t` writes record `seq` (0, 1, ... `records - 1`):
 * - to memory: 64 bytes at `seq * stride` in its own mapping, then `msync` of that page;
 *   when `msync` returns the record is acknowledged (`CHAOS ack m t seq began ended`). With
 *   `stride` equal to the cluster's `vregionBytes`, every record sits in a vRegion of its
 *   own, so each first write-back of a record asks the manager where its page lives.
 * - to the file `chaos/t<t>.dat` at offset `seq * 64`, then `fsync`; when `fsync` returns
 *   the record is acknowledged (`CHAOS ack f t seq began ended`).
 * Each acknowledgement ends with two wall-clock times (epoch ms): when the attempt that
 * succeeded began, and when its sync returned. A call that fails (its component was
 * killed, the manager is restarting) is retried, the whole write again, every
 * {@link RETRY_MS} ms, for at most `patience` ms; only a write whose sync returned is
 * acknowledged. Record contents are a pure function of (seed, kind, thread, seq):
 * {@link chaosRecord}.
 *
 * Once every thread has written its records, thread 0 pushes every cached line out of the
 * processor's ExCache (it reads `evict` bytes of never-written memory: clean lines that
 * are dropped, not written back), so what it reads next comes from the memory
 * components; then it reads every record back, from memory and from the files, and logs
 * the numbers of the records that are not intact (`CHAOS readback m t 3,17` — empty when
 * all are). It checks content only; which of those records were acknowledged is the
 * driver's business.
 *
 * Arguments, each `key=value`: `seed` (u32, default 1), `threads` (1..16, default 4),
 * `records` per thread (1..100000, default 100), `evict` bytes to read through (a
 * multiple of 4096; default 4 MiB, the default ExCache), `stride` bytes between memory
 * records (a multiple of 4096, default 4096), `patience` ms (default 30000),
 * and, as a test hook, `corrupt=t:seq`: after the writes, overwrite the memory record
 * `seq` of (even) thread `t` with garbage and `msync` it, so the read-back must report it.
 *
 * @module
 */

import type { Proc } from "../../workload.ts";
import { O_CREAT, O_RDWR } from "../../kernel/abi.ts";

/** Bytes of one record. */
export const RECORD_BYTES = 64;
/** How long a thread waits before retrying a write that failed, in ms. */
export const RETRY_MS = 10;
/** What every line this workload reports starts with. */
export const CHAOS_PREFIX = "CHAOS ";
const PAGE = 4096;
const MAGIC = 0x43484153; // "CHAS"

/** Where a record goes: `m` memory, `f` file. */
export type RecordKind = "m" | "f";

/** The file thread `thread` writes its records to. */
export function chaosFile(thread: number): string {
  return `chaos/t${thread}.dat`;
}

/**
 * The bytes of record `seq` of `thread` for `kind` in a run with `seed`: a header (magic,
 * kind, thread, seq) and 48 bytes drawn from a generator seeded by all four.
 *
 * @example
 * ```ts
 * import { chaosRecord } from "./chaos_writer.ts";
 * const a = chaosRecord(1, "m", 0, 5);
 * console.assert(a.length === 64 && a.every((b, i) => b === chaosRecord(1, "m", 0, 5)[i]));
 * console.assert(a.some((b, i) => b !== chaosRecord(1, "f", 0, 5)[i]));
 * ```
 */
export function chaosRecord(
  seed: number,
  kind: RecordKind,
  thread: number,
  seq: number,
): Uint8Array {
  const bytes = new Uint8Array(RECORD_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, kind === "m" ? 1 : 2, true);
  view.setUint32(8, thread, true);
  view.setUint32(12, seq, true);
  let state = (seed ^ Math.imul(thread + 1, 0x9e3779b1) ^ Math.imul(seq + 1, 0x85ebca6b) ^
    (kind === "m" ? 0x1234567 : 0x7654321)) >>> 0;
  for (let at = 16; at < RECORD_BYTES; at += 4) {
    state = (state + 0x6d2b79f5) >>> 0; // mulberry32
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    view.setUint32(at, (t ^ (t >>> 14)) >>> 0, true);
  }
  return bytes;
}

/** Whether `actual` (at least {@link RECORD_BYTES} long from `offset`) holds `expected`. */
export function recordIntact(actual: Uint8Array, offset: number, expected: Uint8Array): boolean {
  if (actual.length < offset + RECORD_BYTES) return false;
  for (let i = 0; i < RECORD_BYTES; i++) if (actual[offset + i] !== expected[i]) return false;
  return true;
}

/** The workload's arguments, checked. */
export interface ChaosWriterArgs {
  /** Seed of the record contents. */
  seed: number;
  /** Writer threads. */
  threads: number;
  /** Records each thread writes, to memory and to its file. */
  records: number;
  /** Bytes of untouched memory to read through before the read-back. */
  evict: number;
  /** Bytes between two memory records of a thread (a multiple of 4096). */
  stride: number;
  /** Longest a write is retried, in ms. */
  patience: number;
  /** Test hook: the memory record to corrupt after the writes. */
  corrupt?: { thread: number; seq: number };
}

/**
 * Parses `key=value` arguments; throws a `RangeError` naming the bad one.
 *
 * @example
 * ```ts
 * import { parseChaosWriterArgs } from "./chaos_writer.ts";
 * console.assert(parseChaosWriterArgs(["seed=7", "records=10"]).records === 10);
 * ```
 */
export function parseChaosWriterArgs(args: readonly string[]): ChaosWriterArgs {
  const parsed: ChaosWriterArgs = {
    seed: 1,
    threads: 4,
    records: 100,
    evict: 4 * 1024 * 1024,
    stride: PAGE,
    patience: 30_000,
  };
  const integer = (key: string, text: string, min: number, max: number) => {
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min || n > max) {
      throw new RangeError(
        `chaos_writer: ${key} must be an integer in ${min}..${max}, got "${text}"`,
      );
    }
    return n;
  };
  for (const arg of args) {
    const eq = arg.indexOf("=");
    const key = eq < 0 ? arg : arg.slice(0, eq);
    const value = eq < 0 ? "" : arg.slice(eq + 1);
    switch (key) {
      case "seed":
        parsed.seed = integer(key, value, 0, 0xffffffff);
        break;
      case "threads":
        parsed.threads = integer(key, value, 1, 16);
        break;
      case "records":
        parsed.records = integer(key, value, 1, 100_000);
        break;
      case "evict":
        parsed.evict = integer(key, value, PAGE, 2 ** 31);
        if (parsed.evict % PAGE) {
          throw new RangeError(`chaos_writer: evict must be a multiple of ${PAGE}, got ${value}`);
        }
        break;
      case "stride":
        parsed.stride = integer(key, value, PAGE, 2 ** 30);
        if (parsed.stride % PAGE) {
          throw new RangeError(`chaos_writer: stride must be a multiple of ${PAGE}, got ${value}`);
        }
        break;
      case "patience":
        parsed.patience = integer(key, value, 1, 3_600_000);
        break;
      case "corrupt": {
        const m = /^(\d+):(\d+)$/.exec(value);
        if (!m) throw new RangeError(`chaos_writer: corrupt must be thread:seq, got "${value}"`);
        parsed.corrupt = { thread: Number(m[1]), seq: Number(m[2]) };
        break;
      }
      default:
        throw new RangeError(
          `chaos_writer: unknown argument "${arg}" (seed, threads, records, evict, stride, patience, corrupt)`,
        );
    }
  }
  const { corrupt } = parsed;
  if (
    corrupt &&
    (corrupt.thread >= parsed.threads || corrupt.seq >= parsed.records ||
      threadKind(corrupt.thread) !== "m")
  ) {
    throw new RangeError(
      `chaos_writer: corrupt must name a memory record that is written (an even thread)`,
    );
  }
  return parsed;
}

/** What a writer thread is handed. */
interface WriterArg {
  args: ChaosWriterArgs;
  thread: number;
  base: number;
}

/** Runs the writers, then the read-back; 0 when every write and the read-back ran. */
export function main(proc: Proc): number {
  try {
    return run(proc, parseChaosWriterArgs(proc.args));
  } catch (e) {
    proc.log(`${CHAOS_PREFIX}error ${(e as Error).message}`);
    throw e;
  }
}

function run(proc: Proc, args: ChaosWriterArgs): number {
  // A mapping for each memory writer (0 for a file writer).
  const bases = Array.from(
    { length: args.threads },
    (_, t) => threadKind(t) === "m" ? proc.mmap(args.records * args.stride) : 0,
  );
  // Mapped now, not after the writes: no address-space call is needed once a component died.
  const scratch = proc.mmap(args.evict);
  try {
    proc.mkdir("chaos");
  } catch (e) {
    if ((e as { code?: string }).code !== "EEXIST") throw e;
  }
  const tids = bases.slice(1).map((base, i) =>
    proc.spawn("writer", { args, thread: i + 1, base } satisfies WriterArg)
  );
  let failed = writer(proc, { args, thread: 0, base: bases[0] });
  for (const tid of tids) failed += proc.join(tid);
  if (failed) {
    proc.log(`${CHAOS_PREFIX}gave-up ${failed}`);
    return 1;
  }
  if (args.corrupt) {
    const { thread, seq } = args.corrupt;
    const at = bases[thread] + seq * args.stride;
    proc.store(at, new Uint8Array(RECORD_BYTES).fill(0xee));
    proc.msync(at, PAGE);
  }
  // Push every record line out of the ExCache: what is read next comes from memory.
  let sink = 0;
  for (let at = 0; at < args.evict; at += PAGE) sink += proc.loadU8(scratch + at);
  if (sink !== 0) throw new Error("never-written memory did not read as zeros");

  for (let thread = 0; thread < args.threads; thread++) {
    const kind = threadKind(thread);
    let content: Uint8Array | undefined;
    if (kind === "f") {
      content = retry(proc, args.patience, () => {
        const fd = proc.open(chaosFile(thread), O_RDWR);
        try {
          return proc.read(fd, args.records * RECORD_BYTES);
        } finally {
          proc.close(fd);
        }
      })?.value;
    }
    const bad: number[] = [];
    for (let seq = 0; seq < args.records; seq++) {
      const expected = chaosRecord(args.seed, kind, thread, seq);
      const intact = kind === "f"
        ? content !== undefined && recordIntact(content, seq * RECORD_BYTES, expected)
        : recordIntact(
          retry(proc, args.patience, () => {
            return proc.load(bases[thread] + seq * args.stride, RECORD_BYTES);
          })?.value ?? new Uint8Array(),
          0,
          expected,
        );
      if (!intact) bad.push(seq);
    }
    proc.log(`${CHAOS_PREFIX}readback ${kind} ${thread} ${bad.join(",")}`);
  }
  proc.log(`${CHAOS_PREFIX}done`);
  return 0;
}

/** What thread `thread` writes: memory records for even threads, file records for odd ones. */
export function threadKind(thread: number): RecordKind {
  return thread % 2 === 0 ? "m" : "f";
}

/** One writer thread: returns 0, or 1 when a write kept failing for `patience` ms. */
export function writer(proc: Proc, { args, thread, base }: WriterArg): number {
  return threadKind(thread) === "m"
    ? memoryWriter(proc, args, thread, base)
    : fileWriter(proc, args, thread);
}

function memoryWriter(proc: Proc, args: ChaosWriterArgs, thread: number, base: number): number {
  for (let seq = 0; seq < args.records; seq++) {
    const page = base + seq * args.stride;
    const record = chaosRecord(args.seed, "m", thread, seq);
    const synced = retry(proc, args.patience, () => {
      proc.store(page, record);
      proc.msync(page, PAGE);
    });
    if (!synced) return 1;
    proc.log(`${CHAOS_PREFIX}ack m ${thread} ${seq} ${synced.began} ${Date.now()}`);
  }
  return 0;
}

function fileWriter(proc: Proc, args: ChaosWriterArgs, thread: number): number {
  const opened = retry(
    proc,
    args.patience,
    () => proc.open(chaosFile(thread), O_CREAT | O_RDWR, 0o644),
  );
  if (!opened) return 1;
  const fd = opened.value;
  for (let seq = 0; seq < args.records; seq++) {
    const record = chaosRecord(args.seed, "f", thread, seq);
    const written = retry(proc, args.patience, () => {
      proc.seek(fd, seq * RECORD_BYTES);
      proc.write(fd, record);
      proc.fsync(fd);
    });
    if (!written) return 1;
    proc.log(`${CHAOS_PREFIX}ack f ${thread} ${seq} ${written.began} ${Date.now()}`);
  }
  retry(proc, args.patience, () => proc.close(fd));
  return 0;
}

/**
 * `attempt()`, again every {@link RETRY_MS} ms while it throws, for at most `patience` ms:
 * its value and when the attempt that succeeded began (epoch ms), or `undefined` if none
 * did. The first failure of a series is logged.
 */
function retry<T>(
  proc: Proc,
  patience: number,
  attempt: () => T,
): { value: T; began: number } | undefined {
  const deadline = Date.now() + patience;
  let logged = false;
  for (;;) {
    const began = Date.now();
    try {
      return { value: attempt(), began };
    } catch (e) {
      if (!logged) proc.log(`${CHAOS_PREFIX}retry ${(e as Error).message}`);
      logged = true;
      if (Date.now() > deadline) {
        proc.log(`${CHAOS_PREFIX}failed ${(e as Error).message}`);
        return undefined;
      }
      Atomics.wait(SLEEPER, 0, 0, RETRY_MS);
    }
  }
}

const SLEEPER = new Int32Array(new SharedArrayBuffer(4));
