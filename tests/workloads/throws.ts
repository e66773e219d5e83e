import type { Proc } from "../../mod.ts";

/** Maps memory, then fails with an uncaught error. */
export async function main(proc: Proc): Promise<number> {
  const addr = await proc.mmap(1 << 16);
  await proc.storeU32(addr, 1);
  throw new Error("workload bug on purpose");
}
