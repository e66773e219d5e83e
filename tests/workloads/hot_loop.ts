import type { Proc } from "../../mod.ts";

/**
 * Reads a small hot array over and over for `args[0]` milliseconds (default 1500) in
 * `args[1]` threads (default 1): after the first pass every access is a cache hit, so a
 * thread makes no request to the monitor while it loops.
 */
export function main(proc: Proc): number {
  const ms = Number(proc.args[0] ?? "1500");
  const threads = Number(proc.args[1] ?? "1");
  const base = proc.mmap(16 * 4096);
  const end = Date.now() + ms;
  const tids = Array.from({ length: threads - 1 }, () => proc.spawn("loop", { base, end }));
  loop(proc, { base, end });
  for (const tid of tids) proc.join(tid);
  return 0;
}

/** Reads the 16 lines at `base` until `end` (epoch ms). */
export function loop(proc: Proc, { base, end }: { base: number; end: number }): number {
  while (Date.now() < end) {
    for (let i = 0; i < 16 * 4096; i += 64) proc.loadU32(base + i);
  }
  return 0;
}
