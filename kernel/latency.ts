/**
 * The latency-model contract: how much model time each emulated event costs.
 *
 * All results are **nanoseconds** (as plain numbers, possibly fractional); all sizes are
 * **bytes**. A model is a pure function of its constants: it keeps no state and reads no
 * clock, so the same run always charges the same time. Implementations are
 * `"latency-model"` plugins (see `plugins/latency/`); the default, `legoos-ib`, is
 * calibrated from micro-level figures listed, with their sources, in
 * `plugins/latency/SOURCES.md`.
 *
 * @module
 */

import type { Roofline } from "./roofline.ts";

/**
 * Where a message travels.
 * - `"network"`: between two machines through the switch (every component pair in a
 *   disaggregated cluster);
 * - `"loopback"`: between two monitors on the same machine (a co-located manager), which
 *   costs a memory copy rather than a network round trip.
 */
export type LinkKind = "network" | "loopback";

/** A device that holds data: flash, a RAM-backed block device, persistent memory, DRAM. */
export type DeviceKind = "ssd" | "ramdisk" | "pmem" | "dram";

/** What is done to a device. `flush` makes earlier writes durable. */
export type DeviceOp = "read" | "write" | "flush";

/**
 * Software work a component does to serve one request, apart from its device I/O and the
 * further calls it makes (those are charged on their own):
 * - `"page"`: a memory component serving a page request (`P2M_PAGE_*`): fault handling,
 *   page-table walk, frame allocation and zero-fill or copy of the page;
 * - `"call"`: a memory component serving any other request (address-space calls,
 *   buffer-cache I/O, `M2M_*` bookkeeping);
 * - `"file"`: a storage component serving a file request.
 */
export type ServiceKind = "page" | "call" | "file";

/** What serving one request costs a component's CPU. */
export interface ServiceCost {
  /** Time added to the request's latency, in ns. */
  latencyNs: number;
  /**
   * Time a serving CPU stays busy with the request, in ns (at least `latencyNs`): what
   * limits the component's throughput, and so what later requests queue behind.
   */
  busyNs: number;
}

/** One constant of a model, for reports: its value, unit and where it comes from. */
export interface LatencyConstant {
  /** The value in `unit`. */
  value: number;
  /** E.g. `"ns"`, `"GB/s"`, `"bytes"`. */
  unit: string;
  /**
   * Source key of `plugins/latency/SOURCES.md` (e.g. `"A2"`) with how the value was
   * derived, or the option that set it.
   */
  source: string;
}

/**
 * Modeled costs of emulated events, in nanoseconds.
 *
 * @example
 * ```ts
 * import type { LatencyModel } from "./latency.ts";
 * const flat: LatencyModel = {
 *   name: "flat",
 *   messageNs: () => 5_000,
 *   oneSidedNs: () => 3_000,
 *   deviceNs: () => 100,
 *   roofline: () => ({ flopsPerNs: 10, bytesPerNs: 10 }),
 *   service: () => ({ latencyNs: 1_000, busyNs: 2_000 }),
 *   wireNs: (bytes) => bytes / 5,
 *   describe: () => ({ rpcNs: { value: 5_000, unit: "ns", source: "made up" } }),
 * };
 * console.assert(flat.messageNs(4096) === 5_000);
 * ```
 */
export interface LatencyModel {
  /** The model's plugin name, shown in reports next to model time. */
  readonly name: string;
  /**
   * Round-trip time of one two-sided RPC: from the caller posting a request until it has
   * the reply, where one direction carries `bytes` of payload (request body or reply
   * body) and the other direction is small (a header and a status). This is what LegoOS
   * measured as RPC latency (a 4 KiB page fetch is `messageNs(4096)`). A piggybacked
   * flush + fetch carries payload both ways: charge `messageNs(flushBytes + fetchBytes)`.
   * `link` defaults to `"network"`.
   */
  messageNs(bytes: number, link?: LinkKind): number;
  /**
   * Time of one one-sided RDMA operation of `bytes`, from posting it to its completion
   * at the initiator, with no CPU involved at the target.
   */
  oneSidedNs(op: "read" | "write", bytes: number): number;
  /**
   * Time of one `op` of `bytes` on `device` at queue depth 1. For block devices (`ssd`,
   * `ramdisk`) this includes the kernel I/O path the measurement went through; for
   * memory (`dram`, `pmem`) it is the load/store cost. `flush` is the extra cost of
   * making `bytes` of earlier writes durable (zero on volatile devices).
   */
  deviceNs(device: DeviceKind, op: DeviceOp, bytes: number): number;
  /**
   * One core of the emulated CPU, for compute a workload declares
   * (`proc.compute({ flops, bytes })`, converted by `rooflineNs` in `roofline.ts`).
   * ExCache hits have no cost of their own: the ExCache is DRAM, as a monolithic
   * machine's memory is, and the CPU caches in front of both are the same.
   */
  roofline(): Roofline;
  /** What serving one request of `kind` costs the serving component's CPU. */
  service(kind: ServiceKind): ServiceCost;
  /**
   * Time a NIC is busy putting `bytes` on the wire (serialization at the link rate), in
   * ns: what messages through one NIC queue behind.
   */
  wireNs(bytes: number): number;
  /** Every constant the model uses, with unit and source, keyed by option name. */
  describe(): Record<string, LatencyConstant>;
  /**
   * The references the constants' `source`s cite, by key (e.g. `A2` → the paper and
   * figure), when the model keeps them.
   */
  sources?(): Record<string, string>;
}
