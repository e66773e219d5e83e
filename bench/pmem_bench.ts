/**
 * PMEM benchmarks: the study's headline figure from the model, and what one durable write
 * costs on this host.
 * - `pmem.write.onesided_flush_vs_rpc`: model latency of a 64 B persistent write by a
 *   one-sided WRITE + READ flush (path 2, DDIO off) over the same write by an RPC whose
 *   server writes and flushes (path 1). Reported, not tuned.
 * - `pmem.write.durable_host_us`: one durable 4 KiB write into a PMEM file on this host
 *   (record append + `fdatasync`, as a PMEM memory component acknowledges a write),
 *   median; the baseline is the same append without `fdatasync` (page cache only),
 *   measured in the same run.
 *
 * @module
 */

import type { LatencyModel } from "../kernel/latency.ts";
import { RecordKind } from "../monitors/memory/pmem_log.ts";
import { persistCost } from "../monitors/memory/pmem_paths.ts";
import { PmemPool } from "../monitors/memory/pmem_pool.ts";
import { createStockRegistry } from "../plugins/stock.ts";
import { type BenchCase, median } from "./harness.ts";

/**
 * The PMEM benchmark cases.
 *
 * @example
 * ```ts ignore
 * import { benchmarks } from "./pmem_bench.ts";
 * const metrics = await benchmarks[0].run(() => {});
 * console.log(metrics["pmem.write.onesided_flush_vs_rpc"]);
 * ```
 */
export const benchmarks: BenchCase[] = [
  {
    name: "pmem.write",
    async run(progress) {
      const model = await createStockRegistry().create<LatencyModel>(
        "latency-model",
        "legoos-ib",
        { ddio: false },
        {},
      );
      const rpc = persistCost(model, 1, 64).ns;
      const onesided = persistCost(model, 2, 64).ns;

      const dir = await Deno.makeTempDir({ prefix: "legoemu-bench-pmem-" });
      const durable: number[] = [];
      const cached: number[] = [];
      try {
        const { pool } = await PmemPool.open(`${dir}/bench.pmem`, 64 << 20);
        const payload = new Uint8Array(4096).fill(3);
        const record = { kind: RecordKind.WRITE, flags: 0, pid: 1, addr: 0, payload } as const;
        for (let i = 0; i < 200; i++) {
          const t0 = performance.now();
          await pool.append([record]);
          if (i >= 10) durable.push((performance.now() - t0) * 1000);
          progress(i / 400);
        }
        pool.close();
        // The baseline: the same bytes appended by the same kind of write, never synced.
        const file = await Deno.open(`${dir}/plain.bin`, { write: true, create: true });
        const bytes = new Uint8Array(4096 + 512).fill(3);
        for (let i = 0; i < 200; i++) {
          const t0 = performance.now();
          await file.seek((i % 1000) * bytes.length, Deno.SeekMode.Start);
          await file.write(bytes);
          if (i >= 10) cached.push((performance.now() - t0) * 1000);
          progress(0.5 + i / 400);
        }
        file.close();
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
      const durableUs = median(durable);
      const cachedUs = median(cached);
      return {
        "pmem.write.onesided_flush_vs_rpc": {
          value: onesided / rpc,
          unit: "x",
          note:
            `model (legoos-ib, DDIO off), 64 B persistent write: one-sided WRITE + READ flush ` +
            `${(onesided / 1000).toFixed(3)} us / RPC that writes and flushes ` +
            `${(rpc / 1000).toFixed(3)} us (paths 2 and 1 of monitors/memory/pmem_paths.ts)`,
        },
        "pmem.write.durable_host_us": {
          value: durableUs,
          unit: "µs",
          baseline: cachedUs,
          ratio: durableUs / cachedUs,
          note: `median of 190 durable 4 KiB writes to a PMEM file on this host (record append + ` +
            `fdatasync); baseline: the same append without fdatasync, ${cachedUs.toFixed(1)} us. ` +
            `The model's PMEM write of 4 KiB (ntstore + fence) is ` +
            `${(model.deviceNs("pmem", "write", 4096) / 1000).toFixed(3)} us`,
        },
      };
    },
  },
];
