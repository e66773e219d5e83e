/**
 * The demo workload: maps memory larger than the processor's cache, fills every page
 * with a pattern (lines never written anywhere are p-local: zero-filled on the processor,
 * no message), reads it all back (so dirty lines are evicted, written back and fetched
 * again from the memory component), sums a small hot array several times (served by
 * cache hits inside the thread), then writes a file and reads it back.
 *
 * Arguments: `[megabytes]` of memory to touch (default 4), `[threads]` that share the fill
 * and the read-back, each its own slice of the pages (default 1).
 *
 * The process API is synchronous: a miss blocks this thread while the processor fetches
 * the line. Constants come from `kernel/abi.ts` rather than `mod.ts` so that the thread
 * starts without loading the whole library.
 *
 * @module
 */

import type { Proc } from "../../mod.ts";
import { O_CREAT, O_RDWR, O_TRUNC } from "../../kernel/abi.ts";

const PAGE = 4096;

/** Runs the demo; returns 0 when everything read back matches what was written. */
export function main(proc: Proc): number {
  const megabytes = Number(proc.args[0] ?? "4");
  if (!Number.isInteger(megabytes) || megabytes < 1 || megabytes > 1024) {
    throw new RangeError(`megabytes must be an integer in 1..1024, got "${proc.args[0]}"`);
  }
  const threads = Number(proc.args[1] ?? "1");
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
    throw new RangeError(`threads must be an integer in 1..64, got "${proc.args[1]}"`);
  }
  const length = megabytes * 1024 * 1024;
  const base = proc.mmap(length);
  // Thread k fills and reads back pages k, k + threads, k + 2 * threads, ...
  const others = Array.from(
    { length: threads - 1 },
    (_, k) => proc.spawn("pages", { base, length, first: k + 1, step: threads }),
  );
  let bad = pages(proc, { base, length, first: 0, step: threads });
  for (const tid of others) bad += proc.join(tid);
  proc.storeF64(base + 8, Math.PI);
  if (proc.loadF64(base + 8) !== Math.PI) bad++;

  // A hot 64 KiB array of f64, read four times: after the first pass, all hits.
  const hot = proc.mmap(64 * 1024);
  const count = (64 * 1024) / 8;
  for (let i = 0; i < count; i++) proc.storeF64(hot + 8 * i, i);
  for (let pass = 0; pass < 4; pass++) {
    let sum = 0;
    for (let i = 0; i < count; i++) sum += proc.loadF64(hot + 8 * i);
    if (sum !== (count * (count - 1)) / 2) bad++;
  }

  const text = new TextEncoder().encode(`legoemu demo: ${megabytes} MiB touched\n`);
  const fd = proc.open("demo.txt", O_CREAT | O_RDWR | O_TRUNC);
  proc.write(fd, text);
  proc.seek(fd, 0);
  const back = proc.read(fd, text.length + 100);
  proc.close(fd);
  if (new TextDecoder().decode(back) !== new TextDecoder().decode(text)) bad++;
  proc.munmap(base, length);
  proc.log(`${length / PAGE} pages written and verified, file round trip ok: ${bad === 0}`);
  return bad === 0 ? 0 : 1;
}

/** Which pages a thread fills and reads back. */
interface Slice {
  base: number;
  length: number;
  first: number;
  step: number;
}

/** Fills every `step`-th page from `first` with a pattern and reads it back: wrong pages. */
export function pages(proc: Proc, { base, length, first, step }: Slice): number {
  const page = new Uint32Array(PAGE / 4);
  for (let at = first * PAGE; at < length; at += step * PAGE) {
    page.fill((at / PAGE) * 2654435761 >>> 0);
    proc.store(base + at, page);
  }
  let bad = 0;
  for (let at = first * PAGE; at < length; at += step * PAGE) {
    if (proc.loadU32(base + at + PAGE - 4) !== ((at / PAGE) * 2654435761 >>> 0)) bad++;
  }
  return bad;
}
