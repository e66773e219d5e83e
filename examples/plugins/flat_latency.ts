/**
 * A custom plugin, written the way a user would: a latency model that charges the same
 * cost for every message, registered next to the stock plugins and chosen by a config.
 *
 * Run it: `deno run -A examples/plugins/flat_latency.ts [rpcMicroseconds]`.
 *
 * @module
 */

import { z } from "npm:zod@4.6.7";
import {
  createStockRegistry,
  definePlugin,
  type LatencyModel,
  type PluginDefinition,
  type Schema,
  startCluster,
} from "../../mod.ts";

/** Options of the flat model. */
export interface FlatLatencyOptions {
  /** Cost of every RPC round trip, in nanoseconds. */
  rpcNs: number;
  /** Peak compute of one core, in GFLOP/s (FLOP per ns), for declared compute. */
  gflops: number;
  /** Memory bandwidth of one core, in GB/s (bytes per ns), for declared compute. */
  memoryGBps: number;
}

const FlatLatencyOptionsSchema: Schema<FlatLatencyOptions> = z.strictObject({
  rpcNs: z.number().positive().default(10_000),
  gflops: z.number().positive().default(10),
  memoryGBps: z.number().positive().default(10),
});

/** The `flat` latency model plugin. */
export const flatLatencyPlugin: PluginDefinition<FlatLatencyOptions, LatencyModel> = definePlugin(
  {
    kind: "latency-model",
    name: "flat",
    description: "every message costs the same (an example of a user plugin)",
    configSchema: FlatLatencyOptionsSchema,
    create: ({ rpcNs, gflops, memoryGBps }: FlatLatencyOptions): LatencyModel => ({
      name: "flat",
      messageNs: () => rpcNs,
      oneSidedNs: () => rpcNs,
      deviceNs: () => 0,
      roofline: () => ({ flopsPerNs: gflops, bytesPerNs: memoryGBps }),
      // Only messages cost time here: serving them and putting them on the wire are free.
      service: () => ({ latencyNs: 0, busyNs: 0 }),
      wireNs: () => 0,
      describe: () => ({
        rpcNs: { value: rpcNs, unit: "ns", source: "options.rpcNs" },
        gflops: { value: gflops, unit: "GFLOP/s", source: "options.gflops" },
        memoryGBps: { value: memoryGBps, unit: "GB/s", source: "options.memoryGBps" },
      }),
    }),
  },
);

if (import.meta.main) {
  const rpcUs = Number(Deno.args[0] ?? "10");
  if (!(rpcUs > 0)) {
    console.error(`flat_latency: rpcMicroseconds must be a positive number, got "${Deno.args[0]}"`);
    Deno.exit(2);
  }
  const registry = createStockRegistry().register(flatLatencyPlugin);
  const cluster = await startCluster({
    latencyModel: { plugin: "flat", options: { rpcNs: rpcUs * 1000 } },
    components: [
      { id: "gm", role: "manager" },
      { id: "p0", role: "processor", options: { cacheBytes: 262144 } },
      { id: "m0", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  }, { registry });
  const result = await cluster.run(new URL("../workloads/demo.ts", import.meta.url).href, ["1"]);
  console.log(
    `flat model at ${rpcUs} µs per RPC: ${result.stats.messages} messages, model time ${
      (result.modelNs / 1e6).toFixed(3)
    } ms, exit code ${result.exitCode}`,
  );
  await cluster.stop();
}

/** Loaded with `--plugin examples/plugins/flat_latency.ts` or a config's `plugins` list. */
export default flatLatencyPlugin;
