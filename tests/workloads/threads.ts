import type { Proc } from "../../mod.ts";

/**
 * Thread behaviours chosen by `args[0]`:
 * - `join`: a thread computes 5 ms of model time while main computes 1 ms, then main joins
 *   it and returns its value (42);
 * - `throw`: a second thread throws while main waits in `join`;
 * - `exit`: a second thread calls `exit(7)` while main spins;
 * - `no-entry`: spawns an export that does not exist;
 * - `shared`: four threads read the same line at once after it was written back;
 * - `spin`: loops on cache hits until the process is killed;
 * - `evict`: a second thread spins on hits to a flag's line while main's own stores need
 *   that line's slot (run it with a one-line cache): the monitor must take the line back
 *   from the spinning thread, over and over, until main sets the flag;
 * - `yield`: main yields 100 times (which must cost no model time and send nothing), then
 *   two threads each wait for the other's flag with `schedYield` in the loop; returns 5.
 */
export function main(proc: Proc): number {
  switch (proc.args[0]) {
    case "join": {
      const tid = proc.spawn("slow", 42);
      proc.compute({ flops: 76_800_000 }); // 1 ms at 76.8 GFLOP/s
      return proc.join(tid);
    }
    case "throw": {
      const tid = proc.spawn("thrower");
      proc.join(tid);
      return 0;
    }
    case "exit": {
      const flag = proc.mmap(4096);
      proc.spawn("exiter", flag);
      for (;;) proc.loadU32(flag); // runs until the other thread ends the process
    }
    case "no-entry":
      proc.join(proc.spawn("noSuchExport"));
      return 0;
    case "shared":
      return shared(proc);
    case "evict": {
      const flag = proc.mmap(2 * 4096);
      const tid = proc.spawn("waitFlag", flag);
      while (proc.loadU32(flag + 8) === 0) { /* until the spinner has started */ }
      for (let k = 0; k < 20; k++) {
        proc.storeU32(flag + 4096, k); // needs the flag's slot, which the spinner holds
        proc.loadU32(flag + 12); // and back
      }
      proc.storeU32(flag, 1);
      return proc.join(tid);
    }
    case "yield": {
      const before = proc.counters();
      for (let k = 0; k < 100; k++) proc.schedYield();
      const after = proc.counters();
      if (after.modelNs !== before.modelNs || after.messages !== before.messages) return 1;
      const flags = proc.mmap(4096);
      const tid = proc.spawn("yieldUntil", flags);
      while (proc.loadU32(flags + 8) === 0) proc.schedYield(); // until the other has started
      proc.storeU32(flags, 1);
      return proc.join(tid) === 1 ? 5 : 2;
    }
    case "spin": {
      const addr = proc.mmap(4096);
      for (;;) proc.loadU32(addr);
    }
    default:
      throw new Error(`unknown mode ${proc.args[0]}`);
  }
}

/** Computes 5 ms (at the default 76.8 GFLOP/s), returns its argument. */
export function slow(proc: Proc, value: number): number {
  proc.compute({ flops: 384_000_000 });
  return value;
}

/** Says it has started, then yields until main sets the flag at `flags`; returns 1. */
export function yieldUntil(proc: Proc, flags: number): number {
  proc.storeU32(flags + 8, 1);
  while (proc.loadU32(flags) === 0) proc.schedYield();
  return 1;
}

/** Fails. */
export function thrower(): number {
  throw new TypeError("thread bug on purpose");
}

/** Announces itself at `flag + 8`, then spins on hits until `flag` is set; returns 3. */
export function waitFlag(proc: Proc, flag: number): number {
  proc.storeU32(flag + 8, 1);
  while (proc.loadU32(flag) === 0) { /* hits, until the monitor takes the line back */ }
  return 3;
}

/** Ends the whole process. */
export function exiter(proc: Proc, flag: number): number {
  proc.storeU32(flag, 1);
  proc.exit(7);
}

function shared(proc: Proc): number {
  // 8 lines: page 0 is written, then pushed out by 8 other pages; page 1 is a barrier.
  const base = proc.mmap(16 * 4096);
  proc.storeU32(base, 0xfeed);
  for (let page = 2; page < 10; page++) proc.loadU32(base + page * 4096);
  const tids = [1, 2, 3].map(() => proc.spawn("reader", base));
  const value = reader(proc, base);
  let ok = value === 0xfeed;
  for (const tid of tids) ok = proc.join(tid) === 0xfeed && ok;
  return ok ? 0 : 1;
}

/** Waits for all four readers, then reads page 0. */
export function reader(proc: Proc, base: number): number {
  proc.fetchAdd(base + 4096, 1);
  while (proc.loadI32(base + 4096) < 4) { /* barrier */ }
  return proc.loadU32(base);
}
