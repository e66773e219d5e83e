import type { Proc } from "../../mod.ts";

/**
 * The replication check's workload: `args[2]` threads (default 1) each map two regions of
 * `args[0]` pages. Region A is written once and `msync`ed (acknowledged) before anything
 * else; region B is written again in each of `args[1]` rounds, each round `msync`ed. Run
 * with an ExCache smaller than the regions, so pages keep travelling to memory and back.
 * At the end every page of A and B must hold what was last acknowledged there; returns
 * the number of pages that do not (0: intact).
 */
export function main(proc: Proc): number {
  const threads = Number(proc.args[2] ?? "1");
  const tids = [];
  for (let t = 1; t < threads; t++) tids.push(proc.spawn("writer", t));
  let bad = writer(proc, 0);
  for (const tid of tids) bad += proc.join(tid);
  return bad;
}

/** One thread's regions; returns its pages that did not read back intact. */
export function writer(proc: Proc, thread: number): number {
  const pages = Number(proc.args[0] ?? "64");
  const rounds = Number(proc.args[1] ?? "4");
  const bytes = pages * 4096;
  const a = proc.mmap(bytes);
  const b = proc.mmap(bytes);
  const page = new Uint32Array(1024);
  const stamp = (region: number, p: number, round: number) =>
    ((thread & 0xff) << 24 | (region & 0xf) << 20 | (p & 0xfff) << 8 | (round & 0xff)) >>> 0;
  const write = (base: number, region: number, round: number) => {
    for (let p = 0; p < pages; p++) {
      page.fill(stamp(region, p, round));
      page[0] = p; // a page that landed at the wrong address shows
      proc.store(base + p * 4096, page);
    }
    proc.msync(base, bytes);
  };
  write(a, 1, 0);
  for (let round = 1; round <= rounds; round++) write(b, 2, round);
  let bad = 0;
  const check = (base: number, region: number, round: number) => {
    for (let p = 0; p < pages; p++) {
      const got = new Uint32Array(proc.load(base + p * 4096, 4096).slice().buffer);
      const want = stamp(region, p, round);
      if (got[0] !== p || got[1] !== want || got[1023] !== want) bad++;
    }
  };
  check(a, 1, 0);
  check(b, 2, rounds);
  return bad;
}
