/**
 * `ipoib`: the same cluster with Linux TCP/IP over InfiniBand (IPoIB) instead of LegoOS's
 * RDMA RPC. A comparison point for how much of LegoOS's performance is its network stack.
 *
 * - RPC round trip: linear from 128 B 18.5 µs to 4 KB 23.8 µs (A2, the Linux IPoIB line
 *   of Fig. 7), flat below, extended by the same slope beyond.
 * - One-sided READ / WRITE: IP has no one-sided verbs, so each is charged as an RPC
 *   carrying the same bytes.
 * - Devices: the same sourced constants as `legoos-ib` (see `_devices.ts`).
 *
 * @example
 * ```ts
 * import { PluginRegistry } from "../../kernel/plugins.ts";
 * import type { LatencyModel } from "../../kernel/latency.ts";
 * import { ipoibLatencyPlugin } from "./ipoib.ts";
 * const registry = new PluginRegistry().register(ipoibLatencyPlugin);
 * const model = await registry.create<LatencyModel>("latency-model", "ipoib", {}, {});
 * console.assert(model.messageNs(128) === 18_500);
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
import { SERVICE_CONSTANTS, type ServiceConstants } from "./_service.ts";
import { curveModel, describeCurve } from "./_model.ts";

// A2: Linux IPoIB round-trip latency, 128 B and 4 KB (Fig. 7), 40 Gbps IB.
const RPC_POINTS: readonly CurvePoint[] = [
  { bytes: 128, ns: 18_500 },
  { bytes: 4096, ns: 23_800 },
];
const RPC_SOURCE = "A2: Linux IPoIB over 40 Gbps IB (Fig. 7)";
// A1: the same 40 Gbps InfiniBand link carries IP.
const IPOIB_LINK_GBPS = 40;

/** Parsed options of `ipoib`: the RPC curve plus the device constants. */
export interface IpoibOptions extends DeviceConstants, CpuConstants, ServiceConstants {
  /** RPC round trip by payload size (A2, Fig. 7, Linux IPoIB). */
  rpcPoints: CurvePoint[];
}

/**
 * Options of `ipoib`: every constant, defaulting to its sourced value.
 *
 * @example
 * ```ts
 * import { IpoibOptionsSchema } from "./ipoib.ts";
 * const result = IpoibOptionsSchema.safeParse({});
 * console.assert(result.success && result.data.rpcPoints.length === 2);
 * ```
 */
export const IpoibOptionsSchema: Schema<IpoibOptions> = z.strictObject({
  rpcPoints: curveSchema(RPC_POINTS, `RPC round trip by payload size [ns] (${RPC_SOURCE})`),
  ...constantFields(DEVICE_CONSTANTS),
  ...constantFields(CPU_CONSTANTS),
  ...constantFields(SERVICE_CONSTANTS),
});

/**
 * The `ipoib` latency-model plugin.
 *
 * @example
 * ```ts
 * import { ipoibLatencyPlugin } from "./ipoib.ts";
 * console.assert(ipoibLatencyPlugin.name === "ipoib");
 * ```
 */
export const ipoibLatencyPlugin: PluginDefinition<IpoibOptions, LatencyModel> = definePlugin({
  kind: "latency-model",
  name: "ipoib",
  description: "Linux IP over 40 Gbps InfiniBand; one-sided access charged as RPC",
  configSchema: IpoibOptionsSchema,
  create(options: IpoibOptions): LatencyModel {
    const { rpcPoints } = options;
    const devices = pickConstants(DEVICE_CONSTANTS, options);
    const service = pickConstants(SERVICE_CONSTANTS, options);
    const cpu = pickConstants(CPU_CONSTANTS, options);
    return curveModel({
      name: "ipoib",
      rpc: rpcPoints,
      devices,
      cpu,
      service,
      linkGbps: IPOIB_LINK_GBPS,
      constants: {
        ...describeCurve("rpcPoints", rpcPoints, RPC_POINTS, RPC_SOURCE),
        linkGbps: {
          value: IPOIB_LINK_GBPS,
          unit: "Gbit/s",
          source: "A1: 40 Gbps ConnectX-3 InfiniBand (each NIC busy 8 / 40 ns per byte)",
        },
        ...describeConstants(DEVICE_CONSTANTS, devices),
        ...describeConstants(CPU_CONSTANTS, cpu),
      },
    });
  },
});
