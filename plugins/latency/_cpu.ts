/**
 * The emulated processor's CPU, for the roofline that converts declared compute into
 * model time: by default one core of the LegoOS testbed's Intel Xeon E5-2620 v3
 * (Haswell-EP, 2.4 GHz, 6 cores, AVX2 with two FMA units, four DDR4-1866 channels).
 * Another CPU is described by overriding these options. Sources: `SOURCES.md`.
 *
 * @module
 */

import type { Roofline } from "../../kernel/roofline.ts";
import type { ConstantSpec } from "./_devices.ts";

/** The CPU constants, as a model's options carry them. */
export interface CpuConstants {
  /** Core clock [GHz]. */
  cpuGhz: number;
  /** Peak floating-point operations per cycle and core [FLOP/cycle]. */
  cpuFlopsPerCycle: number;
  /** Memory bandwidth of one socket [GB/s]. */
  cpuSocketBandwidthGBps: number;
  /** Cores sharing that bandwidth [cores]. */
  cpuCoresPerSocket: number;
}

/** Names of the CPU constants. */
export type CpuConstantName = keyof CpuConstants;

/**
 * CPU constants: defaults, units and sources.
 *
 * @example
 * ```ts
 * import { CPU_CONSTANTS } from "./_cpu.ts";
 * console.assert(CPU_CONSTANTS.cpuGhz.value === 2.4);
 * ```
 */
export const CPU_CONSTANTS: Readonly<Record<CpuConstantName, ConstantSpec>> = {
  // C1: Intel ARK, Xeon E5-2620 v3 base frequency.
  cpuGhz: {
    value: 2.4,
    unit: "GHz",
    source: "C1: Xeon E5-2620 v3 base clock (Intel ARK)",
    doc: "core clock of the emulated CPU",
  },
  // C1 derived: Haswell has two 256-bit FMA units: 2 units x 8 fp32 lanes x 2 FLOP per FMA.
  cpuFlopsPerCycle: {
    value: 32,
    unit: "FLOP/cycle",
    source: "C1 derived: 2 FMA units x 8 fp32 lanes x 2 FLOP (Haswell, AVX2)",
    doc: "peak fp32 floating-point operations per cycle and core",
  },
  // C1 derived: 4 channels x 1866 MT/s x 8 bytes; the installed DIMM speed is UNCONFIRMED.
  cpuSocketBandwidthGBps: {
    value: 4 * 1.866 * 8,
    unit: "GB/s",
    source: "C1 derived: 4 DDR4 channels x 1866 MT/s x 8 B (DIMM speed UNCONFIRMED)",
    doc: "memory bandwidth of one socket",
  },
  // C1: six cores per socket; one core's share of the socket's bandwidth is assumed.
  cpuCoresPerSocket: {
    value: 6,
    unit: "cores",
    source: "C1: 6 cores per socket (per-core share of bandwidth UNCONFIRMED)",
    doc: "cores sharing the socket's memory bandwidth (one core gets an equal share)",
  },
};

/**
 * One core's roofline from the CPU constants: peak FLOP/s is clock x FLOP per cycle,
 * bandwidth is the socket's divided by its cores.
 *
 * @example
 * ```ts
 * import { cpuRoofline } from "./_cpu.ts";
 * const r = cpuRoofline({ cpuGhz: 2.4, cpuFlopsPerCycle: 32, cpuSocketBandwidthGBps: 60,
 *   cpuCoresPerSocket: 6 });
 * console.assert(Math.abs(r.flopsPerNs - 76.8) < 1e-9 && r.bytesPerNs === 10);
 * ```
 */
export function cpuRoofline(c: CpuConstants): Roofline {
  return Object.freeze({
    flopsPerNs: c.cpuGhz * c.cpuFlopsPerCycle,
    bytesPerNs: c.cpuSocketBandwidthGBps / c.cpuCoresPerSocket,
  });
}
