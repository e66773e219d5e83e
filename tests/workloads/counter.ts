import type { Proc } from "../../mod.ts";

interface Job {
  base: number;
  increments: number;
  lock: boolean;
  stream: number;
}

/**
 * `args[0]` threads each add 1 to a shared counter `args[1]` times with `fetchAdd`; with
 * `args[2] === "lock"` they also bump a second counter under a compare-exchange spinlock,
 * and with `args[3]` > 0 each streams through that many private pages between increments
 * (so the counter's line is evicted and fetched back). Exit 0 when both totals are exact.
 */
export function main(proc: Proc): number {
  const threads = Number(proc.args[0] ?? "4");
  const increments = Number(proc.args[1] ?? "1000");
  const lock = proc.args[2] === "lock";
  const stream = Number(proc.args[3] ?? "0");
  const base = proc.mmap(4096 * (1 + threads * Math.max(stream, 1)));
  const job: Job = { base, increments, lock, stream };
  const tids = [];
  for (let t = 1; t < threads; t++) tids.push(proc.spawn("adder", { ...job, private: t }));
  adder(proc, { ...job, private: 0 });
  for (const tid of tids) proc.join(tid);
  const total = proc.loadI32(base);
  const locked = proc.loadI32(base + 8);
  proc.log(`total ${total} locked ${locked}`);
  const want = threads * increments;
  return total === want && (!lock || locked === want) ? 0 : 1;
}

/** One thread's increments. */
export function adder(proc: Proc, job: Job & { private: number }): number {
  const mine = job.base + 4096 * (1 + job.private * Math.max(job.stream, 1));
  for (let i = 0; i < job.increments; i++) {
    proc.fetchAdd(job.base, 1);
    if (job.lock) {
      while (proc.compareExchange(job.base + 4, 0, 1) !== 0) { /* spin */ }
      proc.storeI32(job.base + 8, proc.loadI32(job.base + 8) + 1);
      proc.compareExchange(job.base + 4, 1, 0);
    }
    for (let page = 0; page < job.stream; page++) proc.storeU32(mine + page * 4096, i);
  }
  return 0;
}
