/**
 * Device and memory constants shared by the stock latency models, each with its source
 * key in `SOURCES.md`, and the cost functions built on them.
 *
 * Bandwidths are in GB/s (10^9 bytes per second), which is numerically bytes per
 * nanosecond, so `bytes / bandwidthGBps` is nanoseconds.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import { KernelError } from "../../kernel/errors.ts";
import type { DeviceKind, DeviceOp, LatencyConstant } from "../../kernel/latency.ts";

/** A model constant: default value, unit, source and a one-line meaning. */
export interface ConstantSpec {
  /** The default value. */
  value: number;
  /** Unit of `value`. */
  unit: string;
  /** `SOURCES.md` source key and derivation. */
  source: string;
  /** What it means. */
  doc: string;
}

/** Device, DRAM and persistent-memory constants, as a model's options carry them. */
export interface DeviceConstants {
  /** Size of one page or block I/O [bytes]. */
  pageBytes: number;
  /** NVMe SSD random read of one page, QD1, through the file system [ns]. */
  ssdRandomReadNs: number;
  /** NVMe SSD read of each further page of a multi-page I/O [ns]. */
  ssdSequentialReadNs: number;
  /** NVMe SSD durable write (fsync included) of one page [ns]. */
  ssdSyncWriteNs: number;
  /** RAM-backed block device read or write of one page, block path included [ns]. */
  ramdiskPageNs: number;
  /** DRAM access latency [ns]. */
  dramReadLatencyNs: number;
  /** DRAM read bandwidth [GB/s = bytes/ns]. */
  dramReadBandwidthGBps: number;
  /** DRAM write bandwidth [GB/s]. */
  dramWriteBandwidthGBps: number;
  /** Persistent-memory read latency [ns]. */
  pmemReadLatencyNs: number;
  /** Persistent-memory read bandwidth [GB/s]. */
  pmemReadBandwidthGBps: number;
  /** Persistent-memory durable write latency (ntstore + fence) [ns]. */
  pmemWriteLatencyNs: number;
  /** Persistent-memory write bandwidth [GB/s]. */
  pmemWriteBandwidthGBps: number;
  /** Persistent-memory flush (clwb + fence) [ns]. */
  pmemFlushNs: number;
}

/** Names of the device constants. */
export type DeviceConstantName = keyof DeviceConstants;

/**
 * Device, DRAM and persistent-memory constants: defaults, units and sources.
 *
 * @example
 * ```ts
 * import { DEVICE_CONSTANTS } from "./_devices.ts";
 * console.assert(DEVICE_CONSTANTS.dramReadLatencyNs.value === 101);
 * ```
 */
export const DEVICE_CONSTANTS: Readonly<Record<DeviceConstantName, ConstantSpec>> = {
  // A1: ExCache lines, pages and swap slots are 4 KB.
  pageBytes: {
    value: 4096,
    unit: "bytes",
    source: "A1: 4 KB ExCache lines",
    doc: "size of one page or block I/O",
  },
  // A2 (derived): Linux 4 KB random read, QD1, through the file system: 10.6 KIOPS.
  ssdRandomReadNs: {
    value: 1e9 / 10.6e3,
    unit: "ns",
    source: "A2 derived: 1e9 / 10.6 KIOPS (Linux 4 KB RandR, QD1, Fig. 9)",
    doc: "NVMe SSD random read of one page",
  },
  // A2 (derived): Linux 4 KB sequential read, QD1: 51.8 KIOPS. Used per extra page.
  ssdSequentialReadNs: {
    value: 1e9 / 51.8e3,
    unit: "ns",
    source: "A2 derived: 1e9 / 51.8 KIOPS (Linux 4 KB SeqR, QD1, Fig. 9)",
    doc: "NVMe SSD read of each further page of a multi-page I/O",
  },
  // A2 (derived): Linux 4 KB random write + fsync, QD1: 31.5 KIOPS (so it is durable).
  ssdSyncWriteNs: {
    value: 1e9 / 31.5e3,
    unit: "ns",
    source: "A2 derived: 1e9 / 31.5 KIOPS (Linux 4 KB RandW+fsync, QD1, Fig. 9)",
    doc: "NVMe SSD durable write of one page (fsync included, so flush adds nothing)",
  },
  // L1 (derived): zram swap-in per page on a kernel that uses the swap cache + bio path,
  // as Linux 4.9 does for a ramdisk; the memory copy is the small part (>70% software).
  ramdiskPageNs: {
    value: 1840,
    unit: "ns",
    source: "L1 derived: zram swap-in per page with swap cache (5 GB sequential)",
    doc: "RAM-backed block device read or write of one page, kernel block path included",
  },
  // N1: idle random-access DRAM latency (Cascade Lake; the E5-2620 v3 figure is unknown).
  dramReadLatencyNs: {
    value: 101,
    unit: "ns",
    source: "N1: DRAM random read latency",
    doc: "DRAM access latency (reads; also used for writes, whose latency is not sourced)",
  },
  // N1: DRAM read bandwidth per socket, 6 channels DDR4-2666.
  dramReadBandwidthGBps: {
    value: 105.6,
    unit: "GB/s",
    source: "N1: DRAM read bandwidth per socket",
    doc: "DRAM read bandwidth",
  },
  // N1: DRAM non-temporal store bandwidth per socket.
  dramWriteBandwidthGBps: {
    value: 76.8,
    unit: "GB/s",
    source: "N1: DRAM ntstore bandwidth per socket",
    doc: "DRAM write bandwidth",
  },
  // N1: Optane random read latency.
  pmemReadLatencyNs: {
    value: 305,
    unit: "ns",
    source: "N1: Optane random read latency",
    doc: "persistent-memory read latency",
  },
  // N1: Optane read bandwidth with 6 DIMMs.
  pmemReadBandwidthGBps: {
    value: 37.6,
    unit: "GB/s",
    source: "N1: Optane read bandwidth, 6 DIMMs",
    doc: "persistent-memory read bandwidth",
  },
  // N1: Optane ntstore + fence: the write is in the persistence domain when it returns.
  pmemWriteLatencyNs: {
    value: 90,
    unit: "ns",
    source: "N1: Optane ntstore + fence",
    doc: "persistent-memory durable write latency (non-temporal store + fence)",
  },
  // N1: Optane write bandwidth, 6 DIMMs, peak at 4 threads.
  pmemWriteBandwidthGBps: {
    value: 12.5,
    unit: "GB/s",
    source: "N1: Optane write bandwidth peak, 6 DIMMs",
    doc: "persistent-memory write bandwidth",
  },
  // N1: Optane clwb + fence.
  pmemFlushNs: {
    value: 62,
    unit: "ns",
    source: "N1: Optane clwb + fence",
    doc: "persistent-memory flush (clwb + fence) of data written by cached stores",
  },
};

/**
 * The sourced default of every device constant.
 *
 * @example
 * ```ts
 * import { defaultDeviceConstants } from "./_devices.ts";
 * console.assert(defaultDeviceConstants().pmemReadLatencyNs === 305);
 * ```
 */
export function defaultDeviceConstants(): DeviceConstants {
  const out = {} as DeviceConstants;
  for (const key of Object.keys(DEVICE_CONSTANTS) as DeviceConstantName[]) {
    out[key] = DEVICE_CONSTANTS[key].value;
  }
  return out;
}

/**
 * Zod fields for constants: each a positive number defaulting to its sourced value.
 *
 * @example
 * ```ts
 * import { z } from "npm:zod@4.6.7";
 * import { constantFields, DEVICE_CONSTANTS } from "./_devices.ts";
 * const parsed = z.object(constantFields(DEVICE_CONSTANTS)).parse({ pmemFlushNs: 70 });
 * console.assert(parsed.pmemFlushNs === 70 && parsed.pmemReadLatencyNs === 305);
 * ```
 */
export function constantFields<K extends string>(
  specs: Record<K, ConstantSpec>,
): Record<K, z.ZodDefault<z.ZodNumber>> {
  const fields = {} as Record<K, z.ZodDefault<z.ZodNumber>>;
  for (const key of Object.keys(specs) as K[]) {
    const spec = specs[key];
    // A constant whose sourced value is 0 may stay 0; any other must stay positive.
    const number = spec.value === 0 ? z.number().min(0) : z.number().positive();
    fields[key] = number.default(spec.value).describe(
      `${spec.doc} [${spec.unit}] (default from ${spec.source})`,
    );
  }
  return fields;
}

/**
 * Describes constants for reports: the source of each is its `SOURCES.md` key unless the
 * options changed the value.
 *
 * @example
 * ```ts
 * import { DEVICE_CONSTANTS, describeConstants } from "./_devices.ts";
 * const d = describeConstants(DEVICE_CONSTANTS, { pmemFlushNs: 70 });
 * console.assert(d.pmemFlushNs.source.startsWith("options"));
 * ```
 */
export function describeConstants<K extends string>(
  specs: Record<K, ConstantSpec>,
  values: Partial<Record<K, number>>,
): Record<string, LatencyConstant> {
  const out: Record<string, LatencyConstant> = {};
  for (const key of Object.keys(specs) as K[]) {
    const spec = specs[key];
    const value = values[key] ?? spec.value;
    out[key] = {
      value,
      unit: spec.unit,
      source: value === spec.value ? spec.source : `options.${key} (default from ${spec.source})`,
    };
  }
  return out;
}

/**
 * The values of one group of constants (the keys of `specs`) out of a model's parsed
 * options, so each model hands every group to its cost functions the same way.
 *
 * @example
 * ```ts
 * import { DEVICE_CONSTANTS, defaultDeviceConstants, pickConstants } from "./_devices.ts";
 * const options = { ...defaultDeviceConstants(), cpuGhz: 3 }; // a model's options mix groups
 * const devices = pickConstants(DEVICE_CONSTANTS, options);
 * if ("cpuGhz" in devices || devices.pmemReadLatencyNs !== 305) throw new Error("wrong pick");
 * ```
 */
export function pickConstants<K extends string>(
  specs: Readonly<Record<K, ConstantSpec>>,
  // Infer the group from `specs` alone: `options` holds the other groups' values too.
  options: NoInfer<Readonly<Record<K, number>>>,
): Record<K, number> {
  const picked = {} as Record<K, number>;
  for (const key of Object.keys(specs) as K[]) picked[key] = options[key];
  return picked;
}

/**
 * Throws `EINVAL` unless `bytes` is a finite number >= 0.
 *
 * @example
 * ```ts
 * import { checkBytes } from "./_devices.ts";
 * console.assert(checkBytes(4096) === 4096);
 * ```
 */
export function checkBytes(bytes: number): number {
  if (typeof bytes !== "number" || !(bytes >= 0) || bytes === Infinity) {
    throw new KernelError("EINVAL", `bytes must be a finite number >= 0, got ${bytes}`);
  }
  return bytes;
}

/**
 * Cost of `op` on `device` for `bytes`, at queue depth 1.
 * - `ssd`: first page at random-read (or durable-write) cost, each further page at the
 *   sequential-read cost (no sourced sequential-write figure: the same is assumed);
 *   `flush` is free because the write cost already includes fsync.
 * - `ramdisk`: a fixed cost per page; volatile, so `flush` is free.
 * - `dram`: latency plus bytes over bandwidth; volatile, so `flush` is free.
 * - `pmem`: reads like DRAM with Optane figures; `write` is a durable non-temporal
 *   store; `flush` is clwb + fence plus write-back of `bytes` at write bandwidth.
 *
 * @example
 * ```ts
 * import { defaultDeviceConstants, deviceCostNs } from "./_devices.ts";
 * const c = defaultDeviceConstants();
 * console.assert(Math.round(deviceCostNs(c, "ssd", "read", 4096)) === 94340);
 * ```
 */
export function deviceCostNs(
  c: DeviceConstants,
  device: DeviceKind,
  op: DeviceOp,
  bytes: number,
): number {
  checkBytes(bytes);
  const pages = Math.max(1, Math.ceil(bytes / c.pageBytes));
  switch (device) {
    case "ssd":
      if (op === "flush") return 0;
      return (op === "read" ? c.ssdRandomReadNs : c.ssdSyncWriteNs) +
        (pages - 1) * c.ssdSequentialReadNs;
    case "ramdisk":
      return op === "flush" ? 0 : pages * c.ramdiskPageNs;
    case "dram":
      if (op === "flush") return 0;
      return c.dramReadLatencyNs +
        bytes / (op === "read" ? c.dramReadBandwidthGBps : c.dramWriteBandwidthGBps);
    case "pmem":
      if (op === "read") return c.pmemReadLatencyNs + bytes / c.pmemReadBandwidthGBps;
      return (op === "write" ? c.pmemWriteLatencyNs : c.pmemFlushNs) +
        bytes / c.pmemWriteBandwidthGBps;
    default:
      throw new KernelError("EINVAL", `unknown device ${JSON.stringify(device)}`);
  }
}

/**
 * Cost of copying `bytes` through DRAM (read then write): a message between two monitors
 * on one machine.
 *
 * @example
 * ```ts
 * import { dramCopyNs } from "./_devices.ts";
 * const c = { dramReadLatencyNs: 100, dramReadBandwidthGBps: 1, dramWriteBandwidthGBps: 2 };
 * console.assert(dramCopyNs(c, 4) === 106);
 * ```
 */
export function dramCopyNs(
  c: Pick<
    DeviceConstants,
    "dramReadLatencyNs" | "dramReadBandwidthGBps" | "dramWriteBandwidthGBps"
  >,
  bytes: number,
): number {
  return c.dramReadLatencyNs + bytes / c.dramReadBandwidthGBps + bytes / c.dramWriteBandwidthGBps;
}
