/**
 * Memory-component benchmarks: 4 KiB page fetches served by one memory component over
 * the in-memory transport, with 1, 4 and 8 concurrent requesters (each a client node with
 * one fetch in flight, like a processor thread blocked on a miss), beside a raw in-process
 * 4 KiB `TypedArray.set` copy loop measured in the same run.
 *
 * The memory component runs alone: a stand-in manager node answers its join, heartbeats
 * and vRegion placement, so only the page service is measured.
 *
 * @module
 */

import type { LatencyModel } from "../kernel/latency.ts";
import { PAGE_SIZE } from "../kernel/messages.ts";
import { PluginRegistry } from "../kernel/plugins.ts";
import { RpcNode } from "../kernel/rpc.ts";
import { memoryMonitorPlugin, type StockMemoryMonitor } from "../monitors/memory/mod.ts";
import { legoosIbLatencyPlugin } from "../plugins/latency/mod.ts";
import { createMemoryTransport } from "../transports/memory.ts";
import { type BenchCase, type Metric, timeOps } from "./harness.ts";
import { createMonitorContext } from "../kernel/component.ts";

/** Pages mapped and written before measuring (16 MiB). */
const PAGES = 4096;
/** Fetches each requester does per timed batch. */
const BATCH = 25;
const CONCURRENCY = [1, 4, 8] as const;
const PAPER = "LegoOS paper Fig. 8 (1 mComponent, 4 worker threads, cold misses over 40 Gbps " +
  "InfiniBand): 125 / 426 / 668 KIOPS at 1 / 4 / 8 threads; Linux with all memory local: " +
  "1040 / 3902 / 7139 KIOPS";

/** A seeded page picker (xorshift), one per requester. */
function picker(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % PAGES;
  };
}

/**
 * The memory benchmark cases.
 *
 * @example
 * ```ts ignore
 * import { benchmarks } from "./memory_bench.ts";
 * const metrics = await benchmarks[0].run(() => {});
 * console.log(metrics["memory.fetch.kiops.1"]);
 * ```
 */
export const benchmarks: BenchCase[] = [
  {
    name: "memory.fetch",
    async run(progress) {
      const transport = createMemoryTransport();
      const manager = new RpcNode(await transport.attach("gm")).handle({
        MGR_JOIN: () => ({ heartbeatMs: 60_000, vregionBytes: 2 ** 30 }),
        MGR_HEARTBEAT: () => ({}),
        MGR_PLACE_VREGION: () => ({ owner: "m0" }),
      });
      const endpoint = await transport.attach("m0");
      const rpc = new RpcNode(endpoint);
      const registry = new PluginRegistry().register(legoosIbLatencyPlugin).register(
        memoryMonitorPlugin,
      );
      const context = createMonitorContext({
        id: "m0",
        role: "memory",
        manager: "gm",
        rpc,
        endpoint,
        latency: await registry.create<LatencyModel>("latency-model", "legoos-ib", {}, {}),
        registry,
      });
      const memory = await registry.create<StockMemoryMonitor>("memory-monitor", "memory", {
        dramBytes: 2 * PAGES * PAGE_SIZE,
      }, context);
      await memory.start();
      const clients: RpcNode[] = [];
      for (let i = 0; i < 8; i++) clients.push(new RpcNode(await transport.attach(`p${i}`)));
      try {
        const pid = 1;
        await clients[0].call("m0", "P2M_FORK", { pid, parentPid: 0 });
        const { addr } = await clients[0].call("m0", "P2M_MMAP", {
          pid,
          addr: 0,
          length: PAGES * PAGE_SIZE,
          prot: 3,
          flags: 0x22,
          path: "",
          offset: 0,
        });
        const page = new Uint8Array(PAGE_SIZE);
        for (let i = 0; i < PAGES; i++) {
          page.fill(i & 0xff);
          await clients[0].call("m0", "P2M_PAGE_FLUSH", { pid, vaddr: addr + i * PAGE_SIZE, page });
        }
        const metrics: Record<string, Metric> = {};
        const rates = new Map<number, number>();
        for (const [step, n] of CONCURRENCY.entries()) {
          const picks = clients.slice(0, n).map((_, i) => picker(i + 1));
          const timing = await timeOps(
            () =>
              Promise.all(
                clients.slice(0, n).map(async (client, i) => {
                  for (let k = 0; k < BATCH; k++) {
                    await client.call("m0", "P2M_PAGE_FETCH", {
                      pid,
                      vaddr: addr + picks[i]() * PAGE_SIZE,
                    });
                  }
                }),
              ),
            { batchSize: n * BATCH, minMs: 400 },
          );
          rates.set(n, timing.perSecond);
          progress((step + 1) / (CONCURRENCY.length + 1));
        }
        // Baseline: the same 4 KiB pages copied in-process with TypedArray.set.
        const pool = new Uint8Array(PAGES * PAGE_SIZE);
        const out = new Uint8Array(PAGE_SIZE);
        const pick = picker(99);
        const copy = await timeOps(() => {
          for (let k = 0; k < 1000; k++) {
            const at = pick() * PAGE_SIZE;
            out.set(pool.subarray(at, at + PAGE_SIZE));
          }
        }, { batchSize: 1000, minMs: 300 });
        progress(1);
        for (const n of CONCURRENCY) {
          const kiops = rates.get(n)! / 1000;
          metrics[`memory.fetch.kiops.${n}`] = {
            value: kiops,
            unit: "KIOPS",
            baseline: copy.perSecond / 1000,
            ratio: kiops / (copy.perSecond / 1000),
            note: `4 KiB P2M_PAGE_FETCH round trips served by one memory component over the ` +
              `in-memory transport with ${n} concurrent requester(s) (one fetch in flight each, ` +
              `random resident pages of a 16 MiB mapping), in thousands per second; baseline = ` +
              `raw in-process 4 KiB TypedArray.set copies (KIOPS), same run. Compare: ${PAPER}`,
          };
        }
        const oneUs = 1e6 / rates.get(1)!;
        const copyUs = 1e6 / copy.perSecond;
        metrics["memory.fetch.ratio_vs_copy"] = {
          value: oneUs / copyUs,
          unit: "x",
          baseline: copyUs,
          note: `mean µs of one 4 KiB fetch through the memory component (1 requester, ` +
            `${oneUs.toFixed(2)} µs: encode, transport, decode, page-table lookup, reply) ` +
            `divided by the mean µs of copying 4 KiB with TypedArray.set in-process ` +
            `(baseline, µs), same run`,
        };
        return metrics;
      } finally {
        for (const client of clients) await client.close();
        await memory.stop();
        await rpc.close();
        await manager.close();
        await transport.close();
      }
    },
  },
];
