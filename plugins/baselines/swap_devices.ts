/**
 * The devices a baseline Linux machine swaps to, and what a swap-in of `n` pages or a
 * swap-out of one page costs on each at queue depth 1, kernel I/O path included.
 *
 * - `ssd` and `ramdisk` take their figures from the latency model (`deviceNs`), whose
 *   constants name their sources (A2, L1); a swap-out is charged as a durable page write
 *   (the only sourced SSD write figure includes fsync, so it is an upper bound).
 * - `infiniswap` is a block device over RDMA with its own figures below (I1, P2, R1).
 * - `none`: all memory is local; a swap-in costs nothing beyond the fault (it should not
 *   happen — the reference machine is sized to hold the working set).
 *
 * Each constant carries its source key from `plugins/baselines/SOURCES.md`; figures that
 * no stored source gives directly are marked UNCONFIRMED.
 *
 * @module
 */

import type { LatencyConstant, LatencyModel } from "../../kernel/latency.ts";

/** The devices a pager can swap to. */
export const SWAP_DEVICES = ["ssd", "ramdisk", "infiniswap", "none"] as const;

/** One of {@link SWAP_DEVICES}. */
export type SwapDeviceName = typeof SWAP_DEVICES[number];

/** A swap device's costs. */
export interface SwapDevice {
  /** Its name. */
  readonly name: SwapDeviceName;
  /** Time to read `pages` contiguous swap slots for one fault [ns]. */
  readNs(pages: number): number;
  /** Time to write one page out [ns]. */
  writeNs(): number;
  /** Its constants, with sources. */
  describe(): Record<string, LatencyConstant>;
}

/** InfiniSwap's constants (overridable through the pager's options). */
export interface InfiniswapConstants {
  /** One 4 KiB page-in through the block layer over RDMA [ns]. */
  infiniswapPageInNs: number;
  /** Each further page of a readahead window: 4 KiB at the 4 KiB read bandwidth [ns]. */
  infiniswapExtraPageNs: number;
  /** One 4 KiB page-out (synchronous RDMA WRITE through the block layer) [ns]. */
  infiniswapPageOutNs: number;
}

/** Defaults of {@link InfiniswapConstants}, each with its source. */
export const INFINISWAP_CONSTANTS: Readonly<Record<keyof InfiniswapConstants, LatencyConstant>> = {
  // P2: a remote 4 KB access through the default (disk-era block-layer) path takes >= 40 us,
  // against ~4.3 us of raw RDMA. InfiniSwap's own 4 KB median is not published (FACTS §4).
  infiniswapPageInNs: {
    value: 40_000,
    unit: "ns",
    source: "P2: default-path remote 4 KB access >= 40 us (UNCONFIRMED as InfiniSwap's median)",
  },
  // I1: InfiniSwap issues one page per request (4.x kernels) at queue depth 256, so the
  // further pages of a window overlap and cost their transfer at ~1.0 GB/s (4 KB fio read).
  infiniswapExtraPageNs: {
    value: 4096 / 1.0,
    unit: "ns",
    source: "I1 derived: 4096 B / 1.0 GB/s (fio 4 KB read, read off figure)",
  },
  // R1 + P2: RDMA WRITE 4 KB 5.52 us plus the block-layer overhead P2 implies
  // (40 - 4.3 us). UNCONFIRMED: no published InfiniSwap page-out latency.
  infiniswapPageOutNs: {
    value: 5_520 + (40_000 - 4_300),
    unit: "ns",
    source: "R1 + P2 derived: 5.52 us RDMA WRITE + 35.7 us block path (UNCONFIRMED)",
  },
};

const PAGE = 4096;

/**
 * The device `name`, priced by `latency` (SSD, ramdisk) or by `infiniswap`.
 *
 * @example
 * ```ts
 * import { swapDevice } from "./swap_devices.ts";
 * import type { LatencyModel } from "../../kernel/latency.ts";
 * const latency = { deviceNs: (_d: string, _o: string, bytes: number) => bytes } as unknown as LatencyModel;
 * const ssd = swapDevice("ssd", latency);
 * console.assert(ssd.readNs(2) === 8192);
 * ```
 */
export function swapDevice(
  name: SwapDeviceName,
  latency: LatencyModel,
  infiniswap: InfiniswapConstants = defaultInfiniswap(),
): SwapDevice {
  switch (name) {
    case "ssd":
    case "ramdisk": {
      const read = (pages: number) => latency.deviceNs(name, "read", pages * PAGE);
      const write = () => latency.deviceNs(name, "write", PAGE);
      return {
        name,
        readNs: read,
        writeNs: write,
        describe: () => ({
          [`${name}.readOnePageNs`]: {
            value: read(1),
            unit: "ns",
            source: `latency model ${latency.name}: deviceNs("${name}", "read", 4096)`,
          },
          [`${name}.readEightPagesNs`]: {
            value: read(8),
            unit: "ns",
            source: `latency model ${latency.name}: deviceNs("${name}", "read", 32768)`,
          },
          [`${name}.writePageNs`]: {
            value: write(),
            unit: "ns",
            source: `latency model ${latency.name}: deviceNs("${name}", "write", 4096)` +
              (name === "ssd" ? " (includes fsync: an upper bound for swap-out)" : ""),
          },
        }),
      };
    }
    case "infiniswap":
      return {
        name,
        readNs: (pages) =>
          infiniswap.infiniswapPageInNs + (pages - 1) * infiniswap.infiniswapExtraPageNs,
        writeNs: () => infiniswap.infiniswapPageOutNs,
        describe: () => {
          const out: Record<string, LatencyConstant> = {};
          for (const key of Object.keys(INFINISWAP_CONSTANTS) as (keyof InfiniswapConstants)[]) {
            const spec = INFINISWAP_CONSTANTS[key];
            out[key] = infiniswap[key] === spec.value
              ? { ...spec }
              : { value: infiniswap[key], unit: spec.unit, source: `options.${key}` };
          }
          return out;
        },
      };
    case "none":
      return { name, readNs: () => 0, writeNs: () => 0, describe: () => ({}) };
  }
}

/** InfiniSwap's sourced defaults. */
export function defaultInfiniswap(): InfiniswapConstants {
  return {
    infiniswapPageInNs: INFINISWAP_CONSTANTS.infiniswapPageInNs.value,
    infiniswapExtraPageNs: INFINISWAP_CONSTANTS.infiniswapExtraPageNs.value,
    infiniswapPageOutNs: INFINISWAP_CONSTANTS.infiniswapPageOutNs.value,
  };
}
