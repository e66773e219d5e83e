import type { PersistentWritePath, Proc } from "../../mod.ts";

/**
 * `proc.persistentWrite` by path `args[0]` of `args[1]` bytes (pattern 1, 2, 3, ...) at the
 * start of a fresh page, after a warm-up write to another page of the same vRegion (which
 * places it and connects to its owner). Logs `charged <model ns of the measured write>`;
 * reads the bytes back through the ExCache and returns 0 when they are all there. With
 * `args[2]` = "unmapped", writes at an unmapped address instead (and lets it fail).
 */
export function main(proc: Proc): number {
  const path = proc.args[0] as PersistentWritePath;
  const bytes = Number(proc.args[1]);
  const base = proc.mmap(4 * 4096);
  const data = new Uint8Array(bytes).map((_, i) => (i % 251) + 1);
  if (proc.args[2] === "unmapped") {
    proc.munmap(base + 2 * 4096, 4096);
    proc.persistentWrite(base + 2 * 4096, data, { path });
    return 0;
  }
  proc.persistentWrite(base + 3 * 4096, new Uint8Array([9]), { path });
  const before = proc.counters().modelNs;
  proc.persistentWrite(base, data, { path });
  proc.log(`charged ${proc.counters().modelNs - before}`);
  const back = proc.load(base, bytes);
  return back.every((b, i) => b === data[i]) && proc.loadU8(base + 3 * 4096) === 9 ? 0 : 1;
}
