import type { Proc } from "../../mod.ts";

/** Maps memory, then fails with an uncaught error. */
export function main(proc: Proc): number {
  const addr = proc.mmap(1 << 16);
  proc.storeU32(addr, 1);
  throw new Error("workload bug on purpose");
}
