/**
 * Phoenix-style MapReduce word count over a text file on the storage component: the shape
 * of the LegoOS paper's Phoenix experiment.
 *
 * 1. **Input.** The text is `wordcount/input-s<seed>-<bytes>.txt` on storage; when it is
 *    missing, the main thread writes it (the same bytes {@link textChunk} gives a host).
 *    The threads read their shares of the file into one anonymous buffer in emulated
 *    memory (spawned and joined, so every share is in before any split is scanned).
 * 2. **Map.** Each thread scans its split (moved to word boundaries) line by line
 *    (`forEachLine`) and counts words into its own open-addressing hash table in emulated
 *    memory (16-byte slots: two 32-bit hashes, count, offset of the first occurrence).
 * 3. **Reduce.** The main thread merges the tables in thread order, reads each word back
 *    from the text, and writes `word count` lines sorted by word to
 *    `wordcount/output-s<seed>-<bytes>.txt`.
 *
 * A word is a maximal run of the letters `a`–`z`; every other byte separates words. The
 * result equals a plain count on the host ({@link hostWordCount}). Integer work is
 * declared through `proc.compute` as operations (the roofline's compute roof stands for
 * the core's issue rate) plus the bytes scanned and the table bytes touched.
 *
 * Arguments (`key=value`): `scale` (default 1: a 2 GB working set, the text ~1.9 GB),
 * `threads` (4), `seed` (1).
 *
 * @module
 */

import type { Proc } from "../../kernel/process_api.ts";
import { O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY } from "../../kernel/abi.ts";

/** The working set at `scale=1` (2 GB, as in the paper). */
export const FULL_WORKING_SET_BYTES = 2e9;
/** Bytes of one generated chunk of text (each chunk ends with a newline). */
export const CHUNK_BYTES = 1 << 20;
/** Distinct words the generator draws from. */
export const VOCABULARY = 8192;

const PAGE = 4096;
const IO_BYTES = 192 * 1024; // one read or write system call
const SLOT_BYTES = 16;
const TABLE_SLOTS = 1 << 15; // > 3 × VOCABULARY: probes stay short
const TABLE_BYTES = TABLE_SLOTS * SLOT_BYTES;
const A = 97;
const Z = 122;
const FNV_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Bytes of text for `scale` (a whole number of chunks, at least one). */
export function textBytesFor(scale: number, threads = 4): number {
  const tables = (threads + 1) * TABLE_BYTES;
  return Math.max(1, Math.floor((FULL_WORKING_SET_BYTES * scale - tables) / CHUNK_BYTES)) *
    CHUNK_BYTES;
}

/** The storage path of the input text. */
export function inputPath(seed: number, bytes: number): string {
  return `wordcount/input-s${seed}-${bytes}.txt`;
}

/** The storage path of the result. */
export function outputPath(seed: number, bytes: number): string {
  return `wordcount/output-s${seed}-${bytes}.txt`;
}

/** The generator's words: 2–9 letters each, from the seed. */
function vocabulary(seed: number): Uint8Array[] {
  const random = seeded(mixSeed(seed, 0x70cab));
  const words: Uint8Array[] = [];
  for (let w = 0; w < VOCABULARY; w++) {
    const word = new Uint8Array(2 + Math.floor(random() * 8));
    for (let i = 0; i < word.length; i++) word[i] = A + Math.floor(random() * 26);
    words.push(word);
  }
  return words;
}

const vocabularies = new Map<number, Uint8Array[]>();

/**
 * Chunk `index` of the text for `seed`: words drawn with Zipf-like skew (rank r has
 * weight 1/r), separated by spaces, a newline every dozen words and at the end.
 *
 * @example
 * ```ts
 * import { CHUNK_BYTES, textChunk } from "./wordcount.ts";
 * const chunk = textChunk(1, 0);
 * console.assert(chunk.length === CHUNK_BYTES && chunk[CHUNK_BYTES - 1] === 10);
 * ```
 */
export function textChunk(seed: number, index: number): Uint8Array {
  let words = vocabularies.get(seed);
  if (!words) vocabularies.set(seed, words = vocabulary(seed));
  const random = seeded(mixSeed(seed, index, 0x7e47));
  const out = new Uint8Array(CHUNK_BYTES);
  const logV = Math.log(VOCABULARY);
  let at = 0;
  let inLine = 0;
  for (;;) {
    // Inverse of the continuous 1/r distribution: rank = exp(u · ln V).
    const rank = Math.min(VOCABULARY, Math.floor(Math.exp(random() * logV)));
    const word = words[rank - 1];
    if (at + word.length + 1 > CHUNK_BYTES) break;
    out.set(word, at);
    at += word.length;
    out[at++] = ++inLine % 12 === 0 ? 10 : 32;
  }
  out.fill(32, at, CHUNK_BYTES - 1);
  out[CHUNK_BYTES - 1] = 10;
  return out;
}

/**
 * Counts words of `text` on the host, the plain way: the reference the workload must match.
 *
 * @example
 * ```ts
 * import { hostWordCount } from "./wordcount.ts";
 * const counts = hostWordCount(new TextEncoder().encode("a bb a\n"));
 * console.assert(counts.get("a") === 2 && counts.get("bb") === 1);
 * ```
 */
export function hostWordCount(
  text: Uint8Array,
  into: Map<string, number> = new Map(),
): Map<string, number> {
  let start = -1;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text[i] : 0;
    const letter = c >= A && c <= Z;
    if (letter && start < 0) start = i;
    else if (!letter && start >= 0) {
      const word = String.fromCharCode(...text.subarray(start, i));
      into.set(word, (into.get(word) ?? 0) + 1);
      start = -1;
    }
  }
  return into;
}

/** Formats counts as the workload does: `word count` lines sorted by word. */
export function formatCounts(counts: Map<string, number>): string {
  return [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([word, n]) => `${word} ${n}\n`).join("");
}

interface Job {
  text: number;
  bytes: number;
  tables: number;
  slot: number;
  threads: number;
  path: string;
}

/** Counts the words; exit code 0 when done. */
export function main(proc: Proc): number {
  const a = parseWorkloadArgs(proc.args, {
    scale: { default: 1, min: 1e-6, max: 2 },
    threads: { default: 4, min: 1, max: 64, integer: true },
    seed: { default: 1, min: 0, max: 2 ** 32 - 1, integer: true },
  });
  const bytes = textBytesFor(a.scale, a.threads);
  const path = inputPath(a.seed, bytes);
  ensureInput(proc, path, a.seed, bytes);
  const job: Job = {
    text: proc.mmap(Math.ceil(bytes / PAGE) * PAGE),
    bytes,
    tables: proc.mmap((a.threads + 1) * TABLE_BYTES),
    slot: 0,
    threads: a.threads,
    path,
  };
  proc.log(`wordcount: ${(bytes / 2 ** 20).toFixed(0)} MiB of text, ${a.threads} threads`);
  parallel(proc, job, "loader");
  parallel(proc, job, "mapper");

  // Reduce: merge every thread's table into the last table, in thread order.
  const final = job.tables + a.threads * TABLE_BYTES;
  const slot = new Uint32Array(4);
  for (let t = 0; t < a.threads; t++) {
    const table = job.tables + t * TABLE_BYTES;
    for (let s = 0; s < TABLE_SLOTS; s++) {
      proc.loadInto(table + s * SLOT_BYTES, slot);
      if (slot[2] !== 0) insert(proc, final, slot[0], slot[1], slot[2], slot[3]);
    }
    declareWork(proc, { flops: 8 * TABLE_SLOTS, bytes: 2 * TABLE_BYTES });
  }
  const counts = new Map<string, number>();
  let total = 0;
  for (let s = 0; s < TABLE_SLOTS; s++) {
    proc.loadInto(final + s * SLOT_BYTES, slot);
    if (slot[2] === 0) continue;
    counts.set(readWord(proc, job, slot[3]), slot[2]);
    total += slot[2];
  }
  const out = new TextEncoder().encode(formatCounts(counts));
  declareWork(proc, { flops: 20 * counts.size * Math.log2(counts.size + 2), bytes: out.length });
  writeFile(proc, outputPath(a.seed, bytes), out);
  proc.log(`wordcount: ${total} words, ${counts.size} distinct`);
  return 0;
}

/** Runs thread entry `entry` on every slot (the main thread takes slot 0); waits for all. */
function parallel(proc: Proc, job: Job, entry: "loader" | "mapper"): void {
  const tids: number[] = [];
  for (let slot = 1; slot < job.threads; slot++) tids.push(proc.spawn(entry, { ...job, slot }));
  if (entry === "loader") loader(proc, job);
  else mapper(proc, job);
  for (const tid of tids) proc.join(tid);
}

/** Writes the input file on storage unless it is there with the right size. */
function ensureInput(proc: Proc, path: string, seed: number, bytes: number): void {
  try {
    if (proc.stat(path).size === bytes) return;
  } catch { /* missing: write it */ }
  try {
    proc.mkdir("wordcount");
  } catch { /* already there */ }
  const fd = proc.open(path, O_WRONLY | O_CREAT | O_TRUNC);
  for (let chunk = 0; chunk * CHUNK_BYTES < bytes; chunk++) {
    const data = textChunk(seed, chunk);
    for (let at = 0; at < data.length; at += IO_BYTES) {
      proc.write(fd, data.subarray(at, Math.min(data.length, at + IO_BYTES)));
    }
  }
  proc.close(fd);
}

function writeFile(proc: Proc, path: string, data: Uint8Array): void {
  const fd = proc.open(path, O_WRONLY | O_CREAT | O_TRUNC);
  for (let at = 0; at < data.length; at += IO_BYTES) {
    proc.write(fd, data.subarray(at, Math.min(data.length, at + IO_BYTES)));
  }
  proc.close(fd);
}

/** Thread entry: reads this thread's share of the file into the text buffer. */
export function loader(proc: Proc, job: Job): number {
  const share = Math.ceil(job.bytes / job.threads / PAGE) * PAGE;
  const from = Math.min(job.bytes, job.slot * share);
  const to = Math.min(job.bytes, from + share);
  const fd = proc.open(job.path, O_RDONLY);
  proc.seek(fd, from);
  for (let at = from; at < to;) {
    const data = proc.read(fd, Math.min(IO_BYTES, to - at));
    if (data.length === 0) throw new Error(`${job.path} ends at ${at}, expected ${job.bytes}`);
    proc.store(job.text + at, data);
    declareWork(proc, { flops: 0, bytes: 2 * data.length });
    at += data.length;
  }
  proc.close(fd);
  return 0;
}

/**
 * Thread entry: counts the words of this thread's split into its table. The split starts
 * after the word crossing its nominal start and ends with the word crossing its nominal
 * end (that word belongs to the split it starts in).
 */
export function mapper(proc: Proc, job: Job): number {
  const per = Math.ceil(job.bytes / job.threads);
  let start = Math.min(job.bytes, job.slot * per);
  const end = Math.min(job.bytes, start + per);
  if (start > 0) {
    while (start < job.bytes && isLetter(proc.loadU8(job.text + start - 1))) start++;
  }
  const table = job.tables + job.slot * TABLE_BYTES;
  let h1 = FNV_BASIS;
  let h2 = 0;
  let wordStart = -1;
  let done = false;
  const starts: number[] = []; // words completed in this page, inserted after the callback
  const hashes: number[] = [];
  for (let at = start; at < job.bytes && !done;) {
    const pageEnd = Math.min(job.bytes, (Math.floor((job.text + at) / PAGE) + 1) * PAGE - job.text);
    proc.forEachLine(job.text + at, pageEnd - at, false, (line, offset) => {
      for (let i = 0; i < line.length; i++) {
        const c = line[i];
        if (c >= A && c <= Z) {
          if (wordStart < 0) {
            if (at + offset + i >= end) {
              done = true; // the next word belongs to the next split
              return;
            }
            wordStart = at + offset + i;
          }
          h1 = Math.imul(h1 ^ c, FNV_PRIME);
          h2 = Math.imul(h2 + c, 0x9e3779b1) ^ (h2 >>> 15);
        } else if (wordStart >= 0) {
          starts.push(wordStart);
          hashes.push(h1 >>> 0, h2 >>> 0);
          h1 = FNV_BASIS;
          h2 = 0;
          wordStart = -1;
        }
      }
    });
    if (!done && pageEnd === job.bytes && wordStart >= 0) { // the text ends inside a word
      starts.push(wordStart);
      hashes.push(h1 >>> 0, h2 >>> 0);
    }
    // Table inserts touch emulated memory, so they run outside the line callback.
    for (let k = 0; k < starts.length; k++) {
      insert(proc, table, hashes[2 * k], hashes[2 * k + 1], 1, starts[k]);
    }
    declareWork(proc, {
      flops: 4 * (pageEnd - at) + 24 * starts.length,
      bytes: pageEnd - at + 2 * SLOT_BYTES * starts.length,
    });
    starts.length = 0;
    hashes.length = 0;
    at = pageEnd;
  }
  return 0;
}

/** Adds `count` to the word hashed `(h1, h2)` in `table`, first seen at `offset`. */
function insert(
  proc: Proc,
  table: number,
  h1: number,
  h2: number,
  count: number,
  offset: number,
): void {
  let s = h1 & (TABLE_SLOTS - 1);
  for (let probes = 0; probes < TABLE_SLOTS; probes++) {
    const at = table + s * SLOT_BYTES;
    const n = proc.loadU32(at + 8);
    if (n === 0) {
      proc.storeU32(at, h1);
      proc.storeU32(at + 4, h2);
      proc.storeU32(at + 8, count);
      proc.storeU32(at + 12, offset);
      return;
    }
    if (proc.loadU32(at) === h1 && proc.loadU32(at + 4) === h2) {
      proc.storeU32(at + 8, n + count);
      return;
    }
    s = (s + 1) & (TABLE_SLOTS - 1);
  }
  throw new RangeError(`word table full (${TABLE_SLOTS} slots)`);
}

/** The word starting at `offset` of the text. */
function readWord(proc: Proc, job: Job, offset: number): string {
  let word = "";
  for (let at = offset; at < job.bytes; at++) {
    const c = proc.loadU8(job.text + at);
    if (!isLetter(c)) break;
    word += String.fromCharCode(c);
  }
  return word;
}

function isLetter(c: number): boolean {
  return c >= A && c <= Z;
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
