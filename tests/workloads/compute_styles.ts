import type { Proc } from "../../mod.ts";

/**
 * Sums `args[1]` f32s (default 65536, 256 KiB) written in a first pass, in the style
 * `args[0]` names: `typed` (one `loadF32` per value) or `lines` (`forEachF32`, a line at a
 * time). Both declare the same compute for the sum (one FLOP and four bytes per value),
 * so their model time must agree however the loop was written. Exits 0 when the sum is
 * right.
 */
export function main(proc: Proc): number {
  const style = proc.args[0];
  const count = Number(proc.args[1] ?? 65536);
  const addr = proc.mmap(count * 4);
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = i % 7;
  proc.storeF32Array(addr, values);
  let sum = 0;
  if (style === "typed") {
    for (let i = 0; i < count; i++) sum += proc.loadF32(addr + 4 * i);
  } else if (style === "lines") {
    proc.forEachF32(addr, count, false, (line) => {
      for (let k = 0; k < line.length; k++) sum += line[k];
    });
  } else {
    throw new Error(`unknown style ${style}`);
  }
  proc.compute({ flops: count, bytes: 4 * count });
  let expected = 0;
  for (let i = 0; i < count; i++) expected += i % 7;
  return sum === expected ? 0 : 1;
}
