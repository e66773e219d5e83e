/**
 * A latency model assembled from measured curves and device constants: the shared body
 * of the stock `"latency-model"` plugins, which differ only in their figures.
 *
 * @module
 */

import type { LatencyConstant, LatencyModel, LinkKind } from "../../kernel/latency.ts";
import { curveNs, type CurvePoint } from "./_curve.ts";
import { type CpuConstants, cpuRoofline } from "./_cpu.ts";
import { type ServiceConstants, serviceCost } from "./_service.ts";
import { citedKeys, REFERENCES } from "./_sources.ts";
import { checkBytes, type DeviceConstants, deviceCostNs, dramCopyNs } from "./_devices.ts";

/** What a curve model is built from. */
export interface CurveModelSpec {
  /** The plugin name. */
  name: string;
  /** RPC round trip by payload size (see `LatencyModel.messageNs`). */
  rpc: readonly CurvePoint[];
  /** One-sided READ by size; when absent, a read is charged as an RPC. */
  oneSidedRead?: readonly CurvePoint[];
  /** One-sided WRITE by size; when absent, a write is charged as an RPC. */
  oneSidedWrite?: readonly CurvePoint[];
  /**
   * Growth of one-sided costs beyond their last measured point, in ns per byte (the
   * wire rate); when absent, the last segment's slope.
   */
  oneSidedTailNsPerByte?: number;
  /** Device, DRAM and PMEM constants. */
  devices: DeviceConstants;
  /** The emulated CPU (one core's roofline). */
  cpu: CpuConstants;
  /** What serving a request costs a component's CPU. */
  service: ServiceConstants;
  /** The link rate, for the time a NIC is busy per byte [Gbit/s]. */
  linkGbps: number;
  /** What `describe()` returns. */
  constants: Record<string, LatencyConstant>;
}

/**
 * Builds a {@link LatencyModel} from `spec`.
 *
 * @example
 * ```ts
 * import { curveModel } from "./_model.ts";
 * import { defaultDeviceConstants } from "./_devices.ts";
 * const model = curveModel({
 *   name: "flat",
 *   rpc: [{ bytes: 0, ns: 5000 }],
 *   devices: defaultDeviceConstants(),
 *   cpu: { cpuGhz: 1, cpuFlopsPerCycle: 4, cpuSocketBandwidthGBps: 8, cpuCoresPerSocket: 2 },
 *   service: { memoryPageServiceNs: 1, memoryPageBusyNs: 2, memoryCallServiceNs: 1,
 *     memoryCallBusyNs: 2, storageServiceNs: 0 },
 *   linkGbps: 40,
 *   constants: {},
 * });
 * console.assert(model.roofline().flopsPerNs === 4);
 * console.assert(model.oneSidedNs("read", 64) === 5000);
 * ```
 */
export function curveModel(spec: CurveModelSpec): LatencyModel {
  const copy = (points: readonly CurvePoint[]) =>
    Object.freeze(points.map((p) => Object.freeze({ ...p })));
  const rpc = copy(spec.rpc);
  const read = spec.oneSidedRead ? copy(spec.oneSidedRead) : undefined;
  const write = spec.oneSidedWrite ? copy(spec.oneSidedWrite) : undefined;
  const devices = Object.freeze({ ...spec.devices });
  const constants = JSON.stringify(spec.constants);
  const tail = spec.oneSidedTailNsPerByte;
  const roofline = cpuRoofline(spec.cpu);
  const service = Object.freeze({ ...spec.service });
  const nsPerByte = 8 / spec.linkGbps; // Gbit/s = bit/ns
  const model: LatencyModel = {
    name: spec.name,
    messageNs(bytes: number, link: LinkKind = "network"): number {
      checkBytes(bytes);
      return link === "loopback" ? dramCopyNs(devices, bytes) : curveNs(rpc, bytes);
    },
    oneSidedNs(op: "read" | "write", bytes: number): number {
      checkBytes(bytes);
      const curve = op === "read" ? read : write;
      return curve ? curveNs(curve, bytes, tail) : curveNs(rpc, bytes);
    },
    deviceNs: (device, op, bytes) => deviceCostNs(devices, device, op, bytes),
    roofline: () => roofline,
    service: (kind) => serviceCost(service, kind),
    wireNs: (bytes) => checkBytes(bytes) * nsPerByte,
    // A fresh copy each time, so a caller cannot edit the model's report.
    describe: () => JSON.parse(constants),
    sources: () => {
      const out: Record<string, string> = {};
      for (const { source } of Object.values(spec.constants)) {
        for (const key of citedKeys(source)) if (REFERENCES[key]) out[key] = REFERENCES[key];
      }
      return out;
    },
  };
  return Object.freeze(model);
}

/**
 * Describes a curve option as one constant per point, keyed `<key>.<bytes>B`.
 *
 * @example
 * ```ts
 * import { describeCurve } from "./_model.ts";
 * const d = describeCurve("rpcPoints", [{ bytes: 128, ns: 4630 }], [{ bytes: 128, ns: 4630 }], "A2");
 * console.assert(d["rpcPoints.128B"].value === 4630 && d["rpcPoints.128B"].source === "A2");
 * ```
 */
export function describeCurve(
  key: string,
  points: readonly CurvePoint[],
  defaults: readonly CurvePoint[],
  source: string,
): Record<string, LatencyConstant> {
  const isDefault = JSON.stringify(points) === JSON.stringify(defaults);
  const out: Record<string, LatencyConstant> = {};
  for (const p of points) {
    out[`${key}.${p.bytes}B`] = {
      value: p.ns,
      unit: "ns",
      source: isDefault ? source : `options.${key} (default from ${source})`,
    };
  }
  return out;
}
