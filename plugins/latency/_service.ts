/**
 * What serving one request costs a component's CPU, for the stock latency models: the
 * latency it adds and how long it keeps a serving CPU busy (what later requests queue
 * behind). Sources: `SOURCES.md`.
 *
 * LegoOS's Fig. 8 gives both for a memory component with one worker thread: one thread
 * missing alone gets 125 KIOPS (8.0 µs per miss, of which the 4 KB RPC is 6.52 µs, so
 * 1.48 µs is the memory component's work), and 4 to 8 threads together get at most
 * 202 KIOPS (the worker is saturated: 4.95 µs of its time per miss).
 *
 * @module
 */

import type { ServiceCost, ServiceKind } from "../../kernel/latency.ts";
import type { ConstantSpec } from "./_devices.ts";

/** Service constants, as a model's options carry them. */
export interface ServiceConstants {
  /** Latency a memory component adds to a page request [ns]. */
  memoryPageServiceNs: number;
  /** Time a memory component's worker is busy per page request [ns]. */
  memoryPageBusyNs: number;
  /** Latency a memory component adds to any other request [ns]. */
  memoryCallServiceNs: number;
  /** Time a memory component's worker is busy per other request [ns]. */
  memoryCallBusyNs: number;
  /** Latency a storage component adds to a file request, beyond its device [ns]. */
  storageServiceNs: number;
}

/** Names of the service constants. */
export type ServiceConstantName = keyof ServiceConstants;

/** 8.0 µs per cold miss at 1 thread (1e9 / 125 KIOPS), less the 4 KB RPC (6.52 µs). */
const PAGE_SERVICE_NS = 1e9 / 125e3 - 6520;
/** The 1-worker cap: 202 KIOPS with 4 to 8 threads. */
const PAGE_BUSY_NS = 1e9 / 202e3;

/**
 * Service constants: defaults, units and sources.
 *
 * @example
 * ```ts
 * import { SERVICE_CONSTANTS } from "./_service.ts";
 * console.assert(Math.round(SERVICE_CONSTANTS.memoryPageServiceNs.value) === 1480);
 * ```
 */
export const SERVICE_CONSTANTS: Readonly<Record<ServiceConstantName, ConstantSpec>> = {
  // A2 derived (Fig. 8, 1 worker, 1 thread; Fig. 7, 4 KB RPC).
  memoryPageServiceNs: {
    value: PAGE_SERVICE_NS,
    unit: "ns",
    source: "A2 derived: 1e9 / 125 KIOPS (Fig. 8, 1 worker, 1 thread) - 6.52 us (Fig. 7, 4 KB)",
    doc: "latency a memory component adds to a page request (fault handling, page table, copy)",
  },
  // A2 derived (Fig. 8, 1 worker, 4-8 threads).
  memoryPageBusyNs: {
    value: PAGE_BUSY_NS,
    unit: "ns",
    source: "A2 derived: 1e9 / 202 KIOPS (Fig. 8, 1 worker, cap at 4-8 threads)",
    doc: "time a memory component's worker is busy per page request",
  },
  // No figure for address-space calls: assumed to cost what a page request costs.
  memoryCallServiceNs: {
    value: PAGE_SERVICE_NS,
    unit: "ns",
    source: "A2 derived as memoryPageServiceNs; equal cost for other requests UNCONFIRMED",
    doc: "latency a memory component adds to any other request",
  },
  memoryCallBusyNs: {
    value: PAGE_BUSY_NS,
    unit: "ns",
    source: "A2 derived as memoryPageBusyNs; equal cost for other requests UNCONFIRMED",
    doc: "time a memory component's worker is busy per other request",
  },
  // A2: the SSD figures are measured through Linux's file system, so they include the
  // storage software; nothing more is added.
  storageServiceNs: {
    value: 0,
    unit: "ns",
    source: "A2: none beyond the device; its figures include the file-system path (Fig. 9)",
    doc: "latency a storage component adds to a file request beyond its device",
  },
};

/**
 * The {@link ServiceCost} of `kind` from the constants.
 *
 * @example
 * ```ts
 * import { serviceCost } from "./_service.ts";
 * const c = { memoryPageServiceNs: 1, memoryPageBusyNs: 2, memoryCallServiceNs: 3,
 *   memoryCallBusyNs: 4, storageServiceNs: 5 };
 * console.assert(serviceCost(c, "call").busyNs === 4 && serviceCost(c, "file").latencyNs === 5);
 * ```
 */
export function serviceCost(c: ServiceConstants, kind: ServiceKind): ServiceCost {
  switch (kind) {
    case "page":
      return {
        latencyNs: c.memoryPageServiceNs,
        busyNs: Math.max(c.memoryPageBusyNs, c.memoryPageServiceNs),
      };
    case "call":
      return {
        latencyNs: c.memoryCallServiceNs,
        busyNs: Math.max(c.memoryCallBusyNs, c.memoryCallServiceNs),
      };
    default:
      return { latencyNs: c.storageServiceNs, busyNs: c.storageServiceNs };
  }
}
