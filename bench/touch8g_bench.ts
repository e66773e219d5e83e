/**
 * `memory.touch8g`: 8 GiB of emulated memory over four memory components in one process
 * (2 GiB of DRAM each, vRegions of 1 GiB placed round-robin), touched one byte per page
 * (a `P2M_PAGE_FLUSH` of the page, as a processor writes back a dirty line) and read back
 * (`P2M_PAGE_FETCH`, checking the byte), with 8 requests in flight. Reports pages per
 * second over both passes and the process's peak resident memory divided by the bytes
 * touched (how much the emulator costs beyond the emulated DRAM itself).
 *
 * Long (minutes, 8 GiB of RAM): not part of the default `deno task bench`, run it with
 * `deno task bench memory.touch8g`. `LEGOEMU_TOUCH_BYTES` scales it down for a quick look.
 *
 * @module
 */

import type { LatencyModel } from "../kernel/latency.ts";
import { PAGE_SIZE } from "../kernel/messages.ts";
import { PluginRegistry } from "../kernel/plugins.ts";
import { RpcNode } from "../kernel/rpc.ts";
import { createMonitorContext } from "../kernel/component.ts";
import { memoryMonitorPlugin, type StockMemoryMonitor } from "../monitors/memory/mod.ts";
import { legoosIbLatencyPlugin } from "../plugins/latency/mod.ts";
import { createMemoryTransport } from "../transports/memory.ts";
import type { BenchCase, Metric } from "./harness.ts";

const GIB = 2 ** 30;
const MEMORIES = 4;
const IN_FLIGHT = 8;

/** The touch-8 GiB case. */
export const benchmarks: BenchCase[] = [
  {
    name: "memory.touch8g",
    long: true,
    async run(progress) {
      const total = Number(Deno.env.get("LEGOEMU_TOUCH_BYTES") ?? 8 * GIB);
      const dramEach = Math.max(total / MEMORIES, 16 * PAGE_SIZE);
      const vregionBytes = Math.min(GIB, dramEach);
      const transport = createMemoryTransport();
      const manager = new RpcNode(await transport.attach("gm")).handle({
        MGR_JOIN: () => ({ heartbeatMs: 60_000, vregionBytes }),
        MGR_HEARTBEAT: () => ({}),
        MGR_PLACE_VREGION: ({ vregion }) => ({ owner: `m${vregion % MEMORIES}` }),
      });
      const registry = new PluginRegistry().register(legoosIbLatencyPlugin).register(
        memoryMonitorPlugin,
      );
      const latency = await registry.create<LatencyModel>("latency-model", "legoos-ib", {}, {});
      const memories: StockMemoryMonitor[] = [];
      for (let i = 0; i < MEMORIES; i++) {
        const endpoint = await transport.attach(`m${i}`);
        const context = createMonitorContext({
          id: `m${i}`,
          role: "memory",
          manager: "gm",
          rpc: new RpcNode(endpoint),
          endpoint,
          latency,
          registry,
        });
        const memory = await registry.create<StockMemoryMonitor>("memory-monitor", "memory", {
          dramBytes: dramEach,
        }, context);
        await memory.start();
        memories.push(memory);
      }
      const client = new RpcNode(await transport.attach("p0"));
      let peakRss = Deno.memoryUsage().rss;
      const sampler = setInterval(() => {
        peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
      }, 100);
      try {
        const pid = 1;
        await client.call("m0", "P2M_FORK", { pid, parentPid: 0 });
        const { addr } = await client.call("m0", "P2M_MMAP", {
          pid,
          addr: 0,
          length: total,
          prot: 3,
          flags: 0x22,
          path: "",
          offset: 0,
        });
        const pages = total / PAGE_SIZE;
        const ownerOf = (i: number) =>
          `m${Math.floor((addr + i * PAGE_SIZE) / vregionBytes) % MEMORIES}`;
        const pass = async (write: boolean) => {
          let next = 0;
          const page = Array.from({ length: IN_FLIGHT }, () => new Uint8Array(PAGE_SIZE));
          await Promise.all(page.map(async (buffer) => {
            for (let i = next++; i < pages; i = next++) {
              const vaddr = addr + i * PAGE_SIZE;
              if (write) {
                buffer[i % PAGE_SIZE] = (i & 0xff) | 1;
                await client.call(ownerOf(i), "P2M_PAGE_FLUSH", { pid, vaddr, page: buffer });
                buffer[i % PAGE_SIZE] = 0;
              } else {
                const { page: got } = await client.call(ownerOf(i), "P2M_PAGE_FETCH", {
                  pid,
                  vaddr,
                });
                if (got[i % PAGE_SIZE] !== ((i & 0xff) | 1)) {
                  throw new Error(`page ${i} lost its byte`);
                }
              }
              if ((i & 0xfff) === 0) progress(((write ? 0 : pages) + i) / (2 * pages));
            }
          }));
        };
        const started = performance.now();
        await pass(true);
        const touchedAt = performance.now();
        await pass(false);
        const seconds = (performance.now() - started) / 1000;
        peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
        const rate = (2 * pages) / seconds;
        const metrics: Record<string, Metric> = {
          "memory.touch8g.pages_per_s": {
            value: rate,
            unit: "pages/s",
            goal: ">= 15000",
            note: `${(total / GIB).toFixed(2)} GiB over ${MEMORIES} memory components in one ` +
              `process: each page written once (P2M_PAGE_FLUSH with one byte set) then read back ` +
              `(P2M_PAGE_FETCH, byte checked), ${IN_FLIGHT} requests in flight; rate over both ` +
              `passes (write ${(pages / ((touchedAt - started) / 1000)).toFixed(0)} pages/s)`,
          },
          "memory.touch8g.rss_per_byte": {
            value: peakRss / total,
            unit: "x",
            goal: "<= 1.15",
            note: `peak resident memory of the whole process (sampled every 100 ms) divided by ` +
              `the ${total} bytes touched`,
          },
        };
        return metrics;
      } finally {
        clearInterval(sampler);
        await client.close?.();
        for (const memory of memories) await memory.stop();
        manager.close?.();
      }
    },
  },
];
