import type { Proc, ThreadCounters } from "../../mod.ts";

/**
 * Three phases over 16 pages through a small cache, logging the counters after each:
 * read every page (p-local: zero-filled, no message), write pages 0-7 (dirty p-local lines
 * are written back when evicted, nothing is fetched), read page 0 again (fetched, with a
 * dirty victim written back in the same round trip).
 */
export function main(proc: Proc): number {
  const base = proc.mmap(16 * 4096);
  const report = (phase: string, c: ThreadCounters) =>
    proc.log(`phase ${phase} ${JSON.stringify(c)}`);
  report("start", proc.counters());
  let nonzero = 0;
  for (let page = 0; page < 16; page++) nonzero += proc.loadU32(base + page * 4096 + 64);
  report("read", proc.counters());
  for (let page = 0; page < 8; page++) proc.storeU32(base + page * 4096, page + 1);
  report("write", proc.counters());
  const back = proc.loadU32(base);
  report("refetch", proc.counters());
  return nonzero === 0 && back === 1 ? 0 : 1;
}
