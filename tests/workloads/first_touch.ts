import type { Proc } from "../../mod.ts";

/**
 * Maps three areas of `args[0]` bytes each (one vRegion each when that is the vRegion
 * size), then writes them back to memory in the order B (every page), C (one page), A (one
 * page), so each one's first touch sees what the earlier ones left on the memory
 * components. Logs `areas <A> <B> <C>` (their addresses).
 */
export function main(proc: Proc): number {
  const bytes = Number(proc.args[0]);
  const [a, b, c] = [proc.mmap(bytes), proc.mmap(bytes), proc.mmap(bytes)];
  proc.log(`areas ${a} ${b} ${c}`);
  for (let at = 0; at < bytes; at += 4096) proc.storeU32(b + at, at + 1);
  proc.msync(b, bytes);
  proc.storeU32(c, 7);
  proc.msync(c, bytes);
  proc.storeU32(a, 9);
  proc.msync(a, bytes);
  return proc.loadU32(a) === 9 && proc.loadU32(b + 4096) === 4097 ? 0 : 1;
}
