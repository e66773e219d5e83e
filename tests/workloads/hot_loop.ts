import type { Proc } from "../../mod.ts";

/**
 * Reads a small hot array over and over for `args[0]` milliseconds (default 1500):
 * after the first pass every access is a cache hit.
 */
export async function main(proc: Proc): Promise<number> {
  const ms = Number(proc.args[0] ?? "1500");
  const base = await proc.mmap(16 * 4096);
  const end = Date.now() + ms;
  while (Date.now() < end) {
    for (let i = 0; i < 16 * 4096; i += 64) await proc.loadU32(base + i);
  }
  return 0;
}
