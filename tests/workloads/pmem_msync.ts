import type { Proc } from "../../mod.ts";

/**
 * Writes `args[0]` pages (default 4) and `msync`s them: on a PMEM memory component each
 * page written back is durable in its file before `msync` returns. Exit 0.
 */
export function main(proc: Proc): number {
  const pages = Number(proc.args[0] ?? "4");
  const base = proc.mmap(4096 * pages);
  for (let i = 0; i < pages; i++) proc.store(base + i * 4096 + 100, new Uint8Array([i + 1, 42]));
  proc.msync(base, 4096 * pages);
  return 0;
}
