/**
 * Piecewise-linear latency curves: measured `(bytes, ns)` points, linear between them,
 * flat below the first point (a message cannot be cheaper than the smallest one
 * measured) and extended by the last segment's slope beyond the last point.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";

/** One measured point: `ns` for a transfer of `bytes`. */
export interface CurvePoint {
  /** Payload size in bytes. */
  bytes: number;
  /** Measured latency in nanoseconds. */
  ns: number;
}

/**
 * Schema for a curve option: at least one point, `bytes` strictly increasing and `ns`
 * never decreasing (so the model stays monotonic in size).
 *
 * @example
 * ```ts
 * import { curveSchema } from "./_curve.ts";
 * const schema = curveSchema([{ bytes: 128, ns: 4630 }], "doc");
 * console.assert(schema.parse(undefined)[0].ns === 4630);
 * console.assert(!schema.safeParse([{ bytes: 2, ns: 5 }, { bytes: 1, ns: 6 }]).success);
 * ```
 */
export function curveSchema(
  defaults: readonly CurvePoint[],
  description: string,
): z.ZodDefault<z.ZodType<CurvePoint[]>> {
  const points: z.ZodType<CurvePoint[]> = z.array(
    z.strictObject({ bytes: z.number().min(0), ns: z.number().positive() }),
  ).min(1).superRefine((list, ctx) => {
    for (let i = 1; i < list.length; i++) {
      if (list[i].bytes <= list[i - 1].bytes) {
        ctx.addIssue({
          code: "custom",
          path: [i, "bytes"],
          message: `points must have strictly increasing bytes (${list[i - 1].bytes} then ${
            list[i].bytes
          })`,
        });
      } else if (list[i].ns < list[i - 1].ns) {
        ctx.addIssue({
          code: "custom",
          path: [i, "ns"],
          message: `latency must not fall as size grows (${list[i - 1].ns} then ${list[i].ns})`,
        });
      }
    }
  });
  return points.default(defaults.map((p) => ({ ...p }))).describe(description);
}

/**
 * The curve's latency at `bytes`. Beyond the last point it grows by `tailNsPerByte` when
 * given, otherwise by the last segment's slope.
 *
 * @example
 * ```ts
 * import { curveNs } from "./_curve.ts";
 * const points = [{ bytes: 0, ns: 10 }, { bytes: 10, ns: 20 }];
 * console.assert(curveNs(points, 5) === 15 && curveNs(points, 20) === 30);
 * console.assert(curveNs(points, 20, 0.5) === 25);
 * ```
 */
export function curveNs(
  points: readonly CurvePoint[],
  bytes: number,
  tailNsPerByte?: number,
): number {
  const first = points[0];
  if (bytes <= first.bytes) return first.ns;
  const last = points[points.length - 1];
  if (bytes > last.bytes && (tailNsPerByte !== undefined || points.length === 1)) {
    return last.ns + (bytes - last.bytes) * (tailNsPerByte ?? 0);
  }
  let i = 1;
  while (i < points.length - 1 && points[i].bytes < bytes) i++;
  // Between points[i-1] and points[i], or beyond the last point on the last segment.
  const a = points[i - 1];
  const b = points[i];
  return a.ns + (b.ns - a.ns) * (bytes - a.bytes) / (b.bytes - a.bytes);
}
