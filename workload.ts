/**
 * What a workload needs: the process API ({@link Proc}) its threads see. A workload is a
 * module exporting `main(proc)` (and, for more threads, the entry functions it hands to
 * `proc.spawn`); each thread runs in its own Worker and reaches memory and files only
 * through `proc`. Only types live here, so a workload pulls in nothing at run time.
 *
 * Import it by path from anywhere: `import type { Proc } from "../legoemu/workload.ts"`,
 * or as the `./workload` export of the package.
 *
 * @example
 * ```ts
 * import type { Proc } from "./workload.ts";
 * export function main(proc: Proc): number {
 *   const addr = proc.mmap(1 << 20);
 *   proc.storeF64(addr, 2.5);
 *   return proc.loadF64(addr) === 2.5 ? 0 : 1;
 * }
 * ```
 *
 * @module
 */

export type {
  ComputeWork,
  FileStat,
  MmapOptions,
  MremapOptions,
  PersistentWriteOptions,
  PersistentWritePath,
  Proc,
  ThreadCounters,
  ThreadEntry,
  WorkloadModule,
} from "./kernel/process_api.ts";
