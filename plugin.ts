/**
 * What a plugin author needs, and nothing else: {@link definePlugin}, the contract of
 * every plugin kind (monitors, transports, latency models, replacement and placement
 * policies) and the helpers the stock plugins use. Options schemas are zod schemas: import
 * `z` from `npm:zod@4.6.7` (the version legoemu pins; any zod 4 works, since the registry
 * only calls a schema's `safeParse`).
 *
 * Import it by path from anywhere (no `deno.json` needed): `import { definePlugin, z }
 * from "../legoemu/plugin.ts"`, or as the `./plugin` export of the package. A module
 * whose default export is a plugin (or an array of plugins) loads with `--plugin F` or a
 * config's `"plugins"` list. The contract suites that check a plugin are in
 * `testing.ts`.
 *
 * @example
 * ```ts
 * import { z } from "npm:zod@4.6.7";
 * import { checkGeometry, checkVictimCall, definePlugin, type ReplacementPolicy } from "./plugin.ts";
 * // Evict the first candidate whose referenced bit is clear, clearing bits on the way.
 * export default definePlugin({
 *   kind: "replacement-policy",
 *   name: "nru",
 *   description: "not recently used",
 *   configSchema: z.strictObject({}),
 *   create: (_options, geometry: { sets: number; ways: number }): ReplacementPolicy => {
 *     checkGeometry(geometry);
 *     return {
 *       name: "nru",
 *       needsRecency: false,
 *       filled() {},
 *       removed() {},
 *       victim(set, candidates, _lastUse, referenced) {
 *         checkVictimCall(geometry, set, candidates);
 *         const clear = candidates.find((way) => !referenced.test(way));
 *         for (const way of candidates) referenced.clear(way);
 *         return clear ?? candidates[0];
 *       },
 *     };
 *   },
 * });
 * ```
 *
 * @module
 */

export * from "./kernel/plugins.ts";
export * from "./kernel/plugin_modules.ts";
export * from "./kernel/replacement.ts";
export * from "./kernel/placement.ts";
export * from "./kernel/latency.ts";
export type { Roofline } from "./kernel/roofline.ts";
export * from "./kernel/monitor.ts";
export * from "./kernel/transport.ts";
export * from "./kernel/ids.ts";
export * from "./kernel/errors.ts";
export * from "./kernel/messages.ts";
export * from "./kernel/clock.ts";
export * from "./kernel/events.ts";
export * from "./kernel/metrics.ts";
export * from "./kernel/rpc.ts";
export * from "./kernel/receive_queue.ts";
export * from "./kernel/cluster_snapshot.ts";
export { createStockRegistry, STOCK_PLUGINS } from "./plugins/stock.ts";
