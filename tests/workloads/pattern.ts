import type { Proc } from "../../mod.ts";

/**
 * Writes a seeded pseudo-random pattern over `args[0]` pages at odd offsets (so stores
 * straddle lines), reads it back in another order, and returns 1 on any mismatch.
 */
export function main(proc: Proc): number {
  const pages = Number(proc.args[0] ?? "64");
  const length = pages * 4096;
  const base = proc.mmap(length);
  const expected = new Uint8Array(length);
  let seed = 12345;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  for (let i = 0; i < 4 * pages; i++) {
    const offset = next() % (length - 300);
    const chunk = new Uint8Array(1 + (next() % 299)).map(() => next() & 0xff);
    expected.set(chunk, offset);
    proc.store(base + offset, chunk);
  }
  let mismatches = 0;
  for (let page = pages - 1; page >= 0; page--) {
    const got = proc.load(base + page * 4096, 4096);
    const want = expected.subarray(page * 4096, (page + 1) * 4096);
    for (let i = 0; i < 4096; i++) if (got[i] !== want[i]) mismatches++;
  }
  return mismatches === 0 ? 0 : 1;
}
