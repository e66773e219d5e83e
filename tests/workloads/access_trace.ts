import type { Proc } from "../../mod.ts";

/**
 * Reads one byte of each page named in the arguments (page indexes into a fresh mapping)
 * and logs the trace of hits and misses as `trace H/M...`, e.g. `trace MMMMHM`.
 */
export function main(proc: Proc): number {
  const pages = proc.args.map(Number);
  const base = proc.mmap(4096 * (Math.max(...pages) + 1));
  let trace = "";
  for (const page of pages) {
    const before = proc.counters().misses;
    proc.loadU8(base + page * 4096);
    trace += proc.counters().misses > before ? "M" : "H";
  }
  proc.log(`trace ${trace}`);
  return 0;
}
