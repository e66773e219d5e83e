/**
 * Spawns and joins one short thread per round, `rounds` times (argument 0, default 6);
 * each thread returns how many threads this Worker has run so far (a module-level count).
 * With `fail` (argument 1) the last round's thread throws instead. Exit code: the largest
 * count seen (above 1 once a Worker was reused), or the join's error.
 */
import type { Proc } from "../../kernel/process_api.ts";

/** Threads this Worker's copy of the module has run. */
let runs = 0;

export function main(proc: Proc): number {
  const rounds = Number(proc.args[0] ?? 6);
  const fail = proc.args[1] === "fail";
  const addr = proc.mmap(4096);
  let most = 0;
  for (let round = 0; round < rounds; round++) {
    const last = round === rounds - 1;
    const tid = proc.spawn(fail && last ? "thrower" : "step", { addr, round });
    most = Math.max(most, proc.join(tid));
  }
  // Every round added its number to the shared word: the threads really ran.
  const want = (rounds * (rounds - 1)) / 2 - (fail ? rounds - 1 : 0);
  return proc.loadU32(addr) === want ? most : 100;
}

export function step(proc: Proc, arg: { addr: number; round: number }): number {
  proc.storeU32(arg.addr, proc.loadU32(arg.addr) + arg.round);
  return ++runs;
}

export function thrower(): number {
  throw new Error("thrown in a reused Worker");
}
