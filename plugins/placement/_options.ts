/**
 * The options shape shared by the stock placement policies that take none.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import type { Schema } from "../../kernel/zod_issues.ts";

/** Options of a placement policy that has nothing to configure (only `{}` is accepted). */
export type NoPlacementOptions = Record<string, never>;

/**
 * Accepts only `{}`, so a misspelt option is reported instead of ignored.
 *
 * @example
 * ```ts
 * import { NoPlacementOptionsSchema } from "./_options.ts";
 * console.assert(NoPlacementOptionsSchema.safeParse({}).success);
 * console.assert(!NoPlacementOptionsSchema.safeParse({ weight: 1 }).success);
 * ```
 */
export const NoPlacementOptionsSchema: Schema<NoPlacementOptions> = z.strictObject({});
