import type { Proc } from "../../mod.ts";

/**
 * Races between one thread's address-space calls and another thread's accesses, chosen by
 * `args[0]` (run with a small ExCache, so the writer misses all the time):
 * - `mprotect`: three writers store to a few pages each of a 256-page mapping while main makes
 *   the whole mapping read-only; once `mprotect` has returned, no store may land;
 * - `munmap`: the same with `munmap`, after which no page may be read or written.
 *
 * Exit codes: 0 when every writer was stopped by the change (with a segmentation fault it
 * catches), 1 when a store landed after the call returned, 2 when a writer was never
 * stopped, 3 when a writer never got going.
 */

const PAGES = 256;
/** Pages each writer cycles through (all of them fit in a 16-line ExCache). */
const HOT_PAGES = 4;
const WRITERS = 3;
const PAGE = 4096;

/** Sleeps `ms` milliseconds of wall time without touching emulated memory. */
function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function main(proc: Proc): number {
  const mode = proc.args[0];
  const data = proc.mmap(PAGES * PAGE);
  // Per writer, at flags + 8 * w: 1 once started, then the count of its stores that landed.
  const flags = proc.mmap(PAGE);
  const writers = Array.from(
    { length: WRITERS },
    (_, w) => proc.spawn("writer", { data: data + w * HOT_PAGES * PAGE, flag: flags + 8 * w }),
  );
  for (let w = 0; w < WRITERS; w++) {
    while (proc.loadU32(flags + 8 * w + 4) === 0) { /* until every writer has stored */ }
  }
  sleep(2);
  if (mode === "mprotect") proc.mprotect(data, PAGES * PAGE, 1);
  else if (mode === "munmap") proc.munmap(data, PAGES * PAGE);
  else throw new Error(`unknown mode ${mode}`);
  // A store that landed before the call returned may be counted just after it; any
  // further one is a write the call should have made impossible.
  const counted = Array.from({ length: WRITERS }, (_, w) => proc.loadU32(flags + 8 * w + 4));
  sleep(15);
  for (let w = 0; w < WRITERS; w++) {
    if (proc.loadU32(flags + 8 * w + 4) > counted[w] + 1) return 1;
  }
  let worst = 0;
  for (const tid of writers) worst = Math.max(worst, proc.join(tid));
  return worst;
}

/** Stores to its hot pages, counting them, until a store faults; returns 0 when one did. */
export function writer(proc: Proc, arg: { data: number; flag: number }): number {
  const { data, flag } = arg;
  proc.storeU32(flag, 1);
  const deadline = Date.now() + 60_000; // only a bug lets it run this long
  let n = 0;
  try {
    while (Date.now() < deadline) {
      for (let i = 0; i < HOT_PAGES; i++) {
        proc.storeU32(data + i * PAGE, n + 1);
        proc.storeU32(flag + 4, ++n);
      }
    }
  } catch (e) {
    if ((e as { code?: string }).code === "EFAULT") return n > 0 ? 0 : 3;
    throw e;
  }
  return 2;
}
