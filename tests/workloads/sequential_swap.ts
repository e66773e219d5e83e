import type { Proc } from "../../mod.ts";

/**
 * Writes a word into each of `args[0]` pages in order, then reads them back in order
 * `args[1]` times (default 2); returns 1 if any page holds the wrong word. On a machine
 * whose memory is smaller, the writes swap pages out in address order, so the reads fault
 * them back in swap-slot order: the case swap readahead is for.
 */
export function main(proc: Proc): number {
  const pages = Number(proc.args[0] ?? "64");
  const passes = Number(proc.args[1] ?? "2");
  const base = proc.mmap(pages * 4096);
  for (let page = 0; page < pages; page++) proc.storeU32(base + page * 4096, 1000 + page);
  let wrong = 0;
  for (let pass = 0; pass < passes; pass++) {
    for (let page = 0; page < pages; page++) {
      if (proc.loadU32(base + page * 4096) !== 1000 + page) wrong++;
    }
  }
  return wrong === 0 ? 0 : 1;
}
