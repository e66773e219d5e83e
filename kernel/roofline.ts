/**
 * Compute in model time: a workload declares the work it did (floating-point operations
 * and bytes moved over data already in the ExCache) and a **roofline** of the emulated
 * CPU turns it into nanoseconds: the work takes as long as the slower of its two limits,
 * `max(flops / peak FLOP rate, bytes / memory bandwidth)` (Williams, Waterman and
 * Patterson's roofline model, per core).
 *
 * Hits add nothing on their own: the ExCache is DRAM, as a monolithic machine's memory
 * is, and the CPU caches in front of both are the same on every system compared, so the
 * cost of touching data in memory is what the declared `bytes` say it is.
 *
 * @module
 */

import { KernelError } from "./errors.ts";
import type { ComputeWork } from "./process_api.ts";

/** One core of the emulated CPU, as the roofline sees it. */
export interface Roofline {
  /** Peak floating-point operations per nanosecond (GFLOP/s). */
  readonly flopsPerNs: number;
  /** Memory bandwidth available to one core, bytes per nanosecond (GB/s). */
  readonly bytesPerNs: number;
}

/**
 * Model time of `work` on one core described by `roofline`: the slower of compute
 * (`flops / flopsPerNs`) and memory (`bytes / bytesPerNs`). Throws `EINVAL` for a
 * missing or negative, NaN or infinite count, naming it.
 *
 * @example
 * ```ts
 * import { rooflineNs } from "./roofline.ts";
 * const core = { flopsPerNs: 76.8, bytesPerNs: 10 };
 * console.assert(rooflineNs(core, { flops: 768 }) === 10); // compute-bound
 * console.assert(rooflineNs(core, { flops: 768, bytes: 4096 }) === 409.6); // memory-bound
 * ```
 */
export function rooflineNs(roofline: Roofline, work: ComputeWork): number {
  if (typeof work !== "object" || work === null) {
    throw new KernelError(
      "EINVAL",
      `compute(work) needs an object { flops?, bytes? }, got ${
        work === null ? "null" : typeof work
      }`,
    );
  }
  const flops = count(work.flops, "flops");
  const bytes = count(work.bytes, "bytes");
  return Math.max(flops / roofline.flopsPerNs, bytes / roofline.bytesPerNs);
}

/**
 * Checks a roofline's two rates (finite and > 0), naming `who` in the error.
 *
 * @example
 * ```ts
 * import { checkRoofline } from "./roofline.ts";
 * console.assert(checkRoofline({ flopsPerNs: 1, bytesPerNs: 2 }, "m").bytesPerNs === 2);
 * ```
 */
export function checkRoofline(roofline: Roofline, who: string): Roofline {
  for (const key of ["flopsPerNs", "bytesPerNs"] as const) {
    const v = roofline?.[key];
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      throw new KernelError(
        "EINVAL",
        `${who}: roofline.${key} must be a finite number > 0, got ${v}`,
      );
    }
  }
  return { flopsPerNs: roofline.flopsPerNs, bytesPerNs: roofline.bytesPerNs };
}

function count(value: unknown, what: string): number {
  if (value === undefined) return 0;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new KernelError(
      "EINVAL",
      `compute(work): ${what} must be a finite number >= 0, got ${String(value)}`,
    );
  }
  return value;
}
