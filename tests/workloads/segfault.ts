import type { Proc } from "../../mod.ts";

/** Touches an address that was never mapped. */
export function main(proc: Proc): number {
  proc.loadU32(0x1000);
  return 0;
}
