/**
 * `legoos-ib`, the default latency model: LegoOS's own RPC over 40 Gbps InfiniBand
 * (ConnectX-3), one-sided RDMA on the same class of NIC, and the devices of the LegoOS
 * testbed era.
 *
 * Calibrated only from micro-level measurements listed in `SOURCES.md`; every constant names its
 * source key and every one can be overridden through options. It is deliberately *not*
 * fitted to the paper's end-to-end slowdown tables, which the emulator must predict.
 *
 * - RPC round trip: linear between the Fig. 7 points (128 B 4.63 µs ... 4 KB 6.52 µs,
 *   A2), flat below 128 B, extended by the 2 KB → 4 KB slope beyond 4 KB.
 * - One-sided READ / WRITE: linear between the Clio CX-3 points (R1); beyond 4 KB they
 *   grow at the 40 Gbps wire rate (A1), because the 1 KB → 4 KB slope of those points
 *   (about 1.1 GB/s) would make a 64 KB READ three times slower than an RPC.
 * - Devices: see `_devices.ts` (A1, A2, L1, N1).
 *
 * Every cost is that of one operation on an idle system: contention (LegoOS's RPC takes
 * 17.9 µs for 4 KB with 4 threads, A3) is left to whoever queues the operations.
 *
 * @example
 * ```ts
 * import { PluginRegistry } from "../../kernel/plugins.ts";
 * import type { LatencyModel } from "../../kernel/latency.ts";
 * import { legoosIbLatencyPlugin } from "./legoos_ib.ts";
 * const registry = new PluginRegistry().register(legoosIbLatencyPlugin);
 * const model = await registry.create<LatencyModel>("latency-model", "legoos-ib", {}, {});
 * console.assert(model.messageNs(4096) === 6520);
 * ```
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import type { LatencyModel } from "../../kernel/latency.ts";
import { definePlugin, type PluginDefinition } from "../../kernel/plugins.ts";
import type { Schema } from "../../kernel/zod_issues.ts";
import { type CurvePoint, curveSchema } from "./_curve.ts";
import {
  constantFields,
  describeConstants,
  DEVICE_CONSTANTS,
  type DeviceConstants,
  pickConstants,
} from "./_devices.ts";
import { CPU_CONSTANTS, type CpuConstants } from "./_cpu.ts";
import { ddioField, describeDdio, RDMA_RPC_CONSTANTS, type RdmaRpcConstants } from "./_rdma_rpc.ts";
import { SERVICE_CONSTANTS, type ServiceConstants } from "./_service.ts";
import { curveModel, describeCurve } from "./_model.ts";

// A2: LegoOS-RPC-IB mean round-trip latency by payload size (Fig. 7), 40 Gbps IB.
const RPC_POINTS: readonly CurvePoint[] = [
  { bytes: 128, ns: 4630 },
  { bytes: 256, ns: 4760 },
  { bytes: 512, ns: 4900 },
  { bytes: 1024, ns: 5350 },
  { bytes: 2048, ns: 6050 },
  { bytes: 4096, ns: 6520 },
];
const RPC_SOURCE = "A2: LegoOS RPC over 40 Gbps IB (Fig. 7)";

// R1: one-sided RDMA READ latency, Clio testbed, ConnectX-3 40 Gbps.
const READ_POINTS: readonly CurvePoint[] = [
  { bytes: 4, ns: 2250 },
  { bytes: 1024, ns: 3480 },
  { bytes: 4096, ns: 6190 },
];
const READ_SOURCE = "R1: one-sided READ, CX-3 40 Gbps (Clio)";

// R1: one-sided RDMA WRITE latency, same testbed.
const WRITE_POINTS: readonly CurvePoint[] = [
  { bytes: 4, ns: 1170 },
  { bytes: 1024, ns: 2780 },
  { bytes: 4096, ns: 5520 },
];
const WRITE_SOURCE = "R1: one-sided WRITE, CX-3 40 Gbps (Clio)";

// A1: the LegoOS testbed's InfiniBand link rate.
const LINK_GBPS = 40;

/** Parsed options of `legoos-ib`: measured curves plus the device constants. */
export interface LegoosIbOptions
  extends DeviceConstants, CpuConstants, ServiceConstants, RdmaRpcConstants {
  /** RPC round trip by payload size (A2, Fig. 7). */
  rpcPoints: CurvePoint[];
  /** One-sided READ by size (R1). */
  oneSidedReadPoints: CurvePoint[];
  /** One-sided WRITE by size (R1). */
  oneSidedWritePoints: CurvePoint[];
  /**
   * Link rate [Gbit/s] (A1): a NIC's busy time per byte (what messages through one NIC
   * queue behind), and one-sided transfers beyond the last measured size.
   */
  linkGbps: number;
  /** DDIO on: NIC writes land in the LLC, so a READ does not flush a WRITE to PMEM. */
  ddio: boolean;
}

/**
 * Options of `legoos-ib`: every constant, defaulting to its sourced value.
 *
 * @example
 * ```ts
 * import { LegoosIbOptionsSchema } from "./legoos_ib.ts";
 * const result = LegoosIbOptionsSchema.safeParse({ pmemFlushNs: 70 });
 * console.assert(result.success && result.data.rpcPoints[0].ns === 4630);
 * console.assert(result.success && result.data.pmemFlushNs === 70);
 * ```
 */
export const LegoosIbOptionsSchema: Schema<LegoosIbOptions> = z.strictObject({
  rpcPoints: curveSchema(RPC_POINTS, `RPC round trip by payload size [ns] (${RPC_SOURCE})`),
  oneSidedReadPoints: curveSchema(READ_POINTS, `one-sided READ by size [ns] (${READ_SOURCE})`),
  oneSidedWritePoints: curveSchema(
    WRITE_POINTS,
    `one-sided WRITE by size [ns] (${WRITE_SOURCE})`,
  ),
  linkGbps: z.number().positive().default(LINK_GBPS).describe(
    "link rate: a NIC's busy time per byte, and one-sided transfers beyond the last " +
      "measured size [Gbit/s] (A1)",
  ),
  ...constantFields(DEVICE_CONSTANTS),
  ...constantFields(CPU_CONSTANTS),
  ...constantFields(SERVICE_CONSTANTS),
  ...constantFields(RDMA_RPC_CONSTANTS),
  ddio: ddioField,
});

/**
 * The `legoos-ib` latency-model plugin.
 *
 * @example
 * ```ts
 * import { PluginRegistry } from "../../kernel/plugins.ts";
 * import type { LatencyModel } from "../../kernel/latency.ts";
 * import { legoosIbLatencyPlugin } from "./legoos_ib.ts";
 * const registry = new PluginRegistry().register(legoosIbLatencyPlugin);
 * const model = await registry.create<LatencyModel>("latency-model", "legoos-ib", {}, {});
 * console.assert(model.messageNs(128) === 4630);
 * console.assert(model.describe()["rpcPoints.128B"].source.startsWith("A2"));
 * ```
 */
export const legoosIbLatencyPlugin: PluginDefinition<LegoosIbOptions, LatencyModel> = definePlugin(
  {
    kind: "latency-model",
    name: "legoos-ib",
    description:
      "LegoOS RPC and one-sided RDMA over 40 Gbps InfiniBand (micro figures of SOURCES.md)",
    configSchema: LegoosIbOptionsSchema,
    create(options: LegoosIbOptions): LatencyModel {
      const { rpcPoints, oneSidedReadPoints, oneSidedWritePoints, linkGbps, ddio } = options;
      const devices = pickConstants(DEVICE_CONSTANTS, options);
      const service = pickConstants(SERVICE_CONSTANTS, options);
      const rdmaRpc = pickConstants(RDMA_RPC_CONSTANTS, options);
      const cpu = pickConstants(CPU_CONSTANTS, options);
      return curveModel({
        name: "legoos-ib",
        rpc: rpcPoints,
        oneSidedRead: oneSidedReadPoints,
        oneSidedWrite: oneSidedWritePoints,
        oneSidedTailNsPerByte: 8 / linkGbps, // 8 bits per byte, Gbit/s = bit/ns
        linkGbps,
        devices,
        cpu,
        service,
        constants: {
          ...describeCurve("rpcPoints", rpcPoints, RPC_POINTS, RPC_SOURCE),
          ...describeCurve("oneSidedReadPoints", oneSidedReadPoints, READ_POINTS, READ_SOURCE),
          ...describeCurve(
            "oneSidedWritePoints",
            oneSidedWritePoints,
            WRITE_POINTS,
            WRITE_SOURCE,
          ),
          linkGbps: {
            value: linkGbps,
            unit: "Gbit/s",
            source: linkGbps === LINK_GBPS
              ? "A1: 40 Gbps ConnectX-3 InfiniBand (each NIC busy 8 / 40 ns per byte)"
              : "options.linkGbps (default from A1)",
          },
          ...describeConstants(DEVICE_CONSTANTS, devices),
          ...describeConstants(CPU_CONSTANTS, cpu),
          ...describeConstants(SERVICE_CONSTANTS, service),
          ...describeConstants(RDMA_RPC_CONSTANTS, rdmaRpc),
          ...describeDdio(ddio),
        },
      });
    },
  },
);
