/**
 * A memory monitor variant that compresses the cold pages it swaps out (like Linux's
 * zswap, but on the way to the storage component): the stock memory monitor, unchanged,
 * with the RPC handle it is given decorated so that its writes to its swap file go out
 * deflated, page by page, and its reads of it come back inflated. Fewer bytes cross the
 * network to storage; the swap file keeps its layout (a page's slot holds its compressed
 * bytes), and the size of each compressed page is kept here in DRAM, as zswap keeps its
 * index.
 *
 * Plugged in by config: list this module in `"plugins"` and give a memory component
 * `"plugin": "compressed-swap"` (see `cluster.json`). Its options are the stock memory
 * monitor's.
 *
 * @module
 */

import {
  type MemoryMonitor,
  type MemoryOptions,
  MemoryOptionsSchema,
  type MonitorContext,
  StockMemoryMonitor,
} from "../../mod.ts";
import { definePlugin } from "../../plugin.ts";

const PAGE = 4096;

/** What the compression did, in the monitor's `stats()` as `compressedSwap`. */
export interface CompressionStats {
  /** Pages written to swap compressed. */
  pagesCompressed: number;
  /** Pages written as they were (they did not shrink). */
  pagesRaw: number;
  /** Bytes of the pages written compressed, before and after compression. */
  bytesBefore: number;
  /** See `bytesBefore`. */
  bytesAfter: number;
  /** Pages read back and inflated. */
  pagesInflated: number;
}

async function transform(data: Uint8Array, stream: CompressionStream | DecompressionStream) {
  const out = new Response(
    new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(stream),
  );
  return new Uint8Array(await out.arrayBuffer());
}

/**
 * Wraps `rpc` so that writes to and reads of `swapPath` are compressed per page. Every
 * other call passes through untouched.
 */
function compressingRpc(
  rpc: MonitorContext["rpc"],
  swapPath: string,
  stats: CompressionStats,
): MonitorContext["rpc"] {
  const compressed = new Map<number, number>(); // page offset -> compressed length
  const call = async (
    to: string,
    kind: string,
    body: Record<string, unknown>,
    options?: unknown,
  ) => {
    const plain = () =>
      (rpc.call as (...a: unknown[]) => Promise<unknown>)(to, kind, body, options);
    if (body?.path !== swapPath || Number(body.offset) % PAGE !== 0) return plain();
    if (kind === "M2S_WRITE") {
      const data = body.data as Uint8Array;
      if (data.length % PAGE !== 0) return plain();
      for (let at = 0; at < data.length; at += PAGE) {
        const page = data.subarray(at, at + PAGE);
        const offset = Number(body.offset) + at;
        const small = await transform(page, new CompressionStream("deflate-raw"));
        const keep = small.length < PAGE;
        await (rpc.call as (...a: unknown[]) => Promise<unknown>)(to, kind, {
          ...body,
          offset,
          data: keep ? small : page,
          sync: body.sync === true && at + PAGE >= data.length,
        }, options);
        if (keep) {
          compressed.set(offset, small.length);
          stats.pagesCompressed++;
          stats.bytesBefore += PAGE;
          stats.bytesAfter += small.length;
        } else {
          compressed.delete(offset);
          stats.pagesRaw++;
        }
      }
      return { written: data.length };
    }
    if (kind === "M2S_READ" && Number(body.length) % PAGE === 0) {
      const out = new Uint8Array(Number(body.length));
      for (let at = 0; at < out.length; at += PAGE) {
        const offset = Number(body.offset) + at;
        const size = compressed.get(offset);
        const reply = await (rpc.call as (...a: unknown[]) => Promise<{ data: Uint8Array }>)(
          to,
          kind,
          { ...body, offset, length: size ?? PAGE },
          options,
        );
        if (size === undefined) out.set(reply.data.subarray(0, PAGE), at);
        else {
          const page = await transform(reply.data, new DecompressionStream("deflate-raw"));
          if (page.length !== PAGE) {
            throw new Error(`swap page at ${offset} inflated to ${page.length} bytes`);
          }
          out.set(page, at);
          stats.pagesInflated++;
        }
      }
      return { data: out };
    }
    return plain();
  };
  return new Proxy(rpc, {
    get(target, property) {
      if (property === "call") return call;
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** Creates the variant: a stock memory monitor whose swap traffic is compressed. */
export function createCompressedSwapMonitor(
  context: MonitorContext,
  options: MemoryOptions,
): MemoryMonitor {
  const stats: CompressionStats = {
    pagesCompressed: 0,
    pagesRaw: 0,
    bytesBefore: 0,
    bytesAfter: 0,
    pagesInflated: 0,
  };
  const swapPath = options.swapPath ?? `@swap/${context.id}.bin`;
  const monitor = new StockMemoryMonitor(
    { ...context, rpc: compressingRpc(context.rpc, swapPath, stats) },
    options,
  );
  const stockStats = monitor.stats.bind(monitor);
  monitor.stats = () => ({ ...stockStats(), compressedSwap: { ...stats } });
  return monitor;
}

/** The `compressed-swap` memory-monitor plugin: the module's default export. */
const compressedSwapPlugin = definePlugin({
  kind: "memory-monitor",
  name: "compressed-swap",
  description: "the stock memory monitor, with the pages it swaps out deflated",
  configSchema: MemoryOptionsSchema,
  create: (options: MemoryOptions, context: MonitorContext) =>
    createCompressedSwapMonitor(context, options),
});

export default compressedSwapPlugin;
