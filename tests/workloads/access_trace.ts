import type { Proc } from "../../mod.ts";

/**
 * Reads one byte of each page named in the arguments (page indexes into a fresh mapping)
 * and logs the trace of hits and misses as `trace H/M...`, e.g. `trace MMMMHM`.
 *
 * When some arguments start with `?` (`0 1 0 ?1`), only those accesses are traced and the
 * others run back to back with no system call between them, so that hits stay on the
 * thread's fast path (asking for the counters is a system call, which drops its pins).
 */
export function main(proc: Proc): number {
  const marked = proc.args.some((a) => a.startsWith("?"));
  const pages = proc.args.map((a) => Number(a.replace("?", "")));
  const base = proc.mmap(4096 * (Math.max(...pages) + 1));
  let trace = "";
  for (const [k, page] of pages.entries()) {
    const traced = !marked || proc.args[k].startsWith("?");
    const before = traced ? proc.counters().misses : 0;
    proc.loadU8(base + page * 4096);
    if (traced) trace += proc.counters().misses > before ? "M" : "H";
  }
  proc.log(`trace ${trace}`);
  return 0;
}
