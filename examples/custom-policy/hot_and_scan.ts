/**
 * A workload on which replacement policies differ: a small hot set used over and over,
 * interleaved with a long scan of pages each used once per round. A policy that keeps
 * what was used recently keeps the hot set; one that evicts by age alone lets the scan
 * push it out.
 *
 * Arguments: `hot` pages (default 24), `scan` pages (default 400), `rounds` (default 4).
 * Each step reads one scan page and writes one hot page, so a hot page comes back after
 * `2 * hot` accesses to distinct pages.
 *
 * @module
 */

import type { Proc } from "../../workload.ts";

const PAGE = 4096;

/** Runs the hot-set-and-scan loop; exits 0 when every hot page holds what it was given. */
export function main(proc: Proc): number {
  const [hot = 24, scan = 400, rounds = 4] = proc.args.map(Number);
  if (![hot, scan, rounds].every((n) => Number.isInteger(n) && n > 0)) {
    proc.log("usage: hot_and_scan.ts [hot pages] [scan pages] [rounds], positive integers");
    return 2;
  }
  const hotBase = proc.mmap(hot * PAGE);
  const scanBase = proc.mmap(scan * PAGE);
  let sum = 0;
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < scan; i++) {
      sum += proc.loadU8(scanBase + i * PAGE);
      const page = i % hot;
      proc.storeU32(hotBase + page * PAGE, proc.loadU32(hotBase + page * PAGE) + 1);
    }
  }
  // Every hot page was written scan * rounds / hot times, give or take one.
  for (let page = 0; page < hot; page++) {
    const writes = proc.loadU32(hotBase + page * PAGE);
    if (Math.abs(writes - (scan * rounds) / hot) > rounds) return 1;
  }
  return sum === 0 ? 0 : 1;
}
