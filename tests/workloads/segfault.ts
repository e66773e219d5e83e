import type { Proc } from "../../mod.ts";

/** Touches an address that was never mapped. */
export async function main(proc: Proc): Promise<number> {
  await proc.loadU32(0x1000);
  return 0;
}
