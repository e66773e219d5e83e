/**
 * RPC benchmarks: the cost of one request/response over the in-memory transport.
 *
 * The baseline is what the RPC replaces inside one process: awaiting a plain async
 * function that returns the same payload, measured in the same run.
 *
 * @module
 */

import { RpcNode } from "../kernel/rpc.ts";
import { createMemoryTransport } from "../transports/memory.ts";
import { type BenchCase, timeOps } from "./harness.ts";

/** Sequential round trips per timed batch: hides the harness's per-batch overhead. */
const BATCH = 20;
/** A small payload, like a control message. */
const PAYLOAD_BYTES = 64;

/**
 * The RPC benchmark cases.
 *
 * @example
 * ```ts ignore
 * import { benchmarks } from "./rpc_bench.ts";
 * const metrics = await benchmarks[0].run(() => {});
 * console.log(metrics["rpc.memory.roundtrip_us"]);
 * ```
 */
export const benchmarks: BenchCase[] = [
  {
    name: "rpc.memory",
    async run(progress) {
      const transport = createMemoryTransport();
      const server = new RpcNode(await transport.attach("m0")).handle({
        SYS_PING: ({ data }) => ({ data }),
      });
      const client = new RpcNode(await transport.attach("p0"));
      const data = new Uint8Array(PAYLOAD_BYTES).fill(1);
      try {
        const rpc = await timeOps(async () => {
          for (let i = 0; i < BATCH; i++) await client.call("m0", "SYS_PING", { data });
        }, { batchSize: BATCH });
        progress(0.5);
        // The same work minus the RPC: an awaited async call returning the payload.
        const ping = async (body: { data: Uint8Array }) =>
          await Promise.resolve({ data: body.data });
        const plain = await timeOps(async () => {
          for (let i = 0; i < BATCH; i++) await ping({ data });
        }, { batchSize: BATCH });
        progress(1);
        const ratio = rpc.meanUs / plain.meanUs;
        const what = `RpcNode.call SYS_PING with a ${PAYLOAD_BYTES}-byte payload over the ` +
          "memory transport (encode, queue, decode, dispatch, reply; one call in flight)";
        return {
          "rpc.memory.roundtrip_ratio_vs_call": {
            value: ratio,
            unit: "x",
            baseline: plain.meanUs,
            note: `mean µs of an ${what}, divided by the mean µs of awaiting a plain async ` +
              "function returning the same payload (baseline, µs), same run",
          },
          "rpc.memory.roundtrip_us": {
            value: rpc.meanUs,
            unit: "µs",
            baseline: plain.meanUs,
            ratio,
            note: `mean wall time of an ${what}; baseline = plain awaited async call, µs`,
          },
        };
      } finally {
        await client.close();
        await server.close();
        await transport.close();
      }
    },
  },
];
