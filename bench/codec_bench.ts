/**
 * Codec benchmarks: how fast a page travels through encode and decode.
 *
 * The baseline is the cheapest thing a page move could cost in this process: one
 * `Uint8Array.prototype.set` of 4 KiB into a preallocated buffer, measured in the same
 * run.
 *
 * @module
 */

import { decode, encode, type Message } from "../kernel/codec.ts";
import { FLAG_REPLY, PAGE_SIZE } from "../kernel/messages.ts";
import { type BenchCase, timeOps } from "./harness.ts";

/** Operations per timed batch: enough to hide the harness's per-batch overhead. */
const BATCH = 100;

/**
 * The codec benchmark cases.
 *
 * @example
 * ```ts ignore
 * import { benchmarks } from "./codec_bench.ts";
 * const metrics = await benchmarks[0].run(() => {});
 * console.log(metrics["codec.page.encode_decode_per_s"]);
 * ```
 */
export const benchmarks: BenchCase[] = [
  {
    name: "codec.page",
    async run(progress) {
      const page = new Uint8Array(PAGE_SIZE).fill(0x5a);
      const reply: Message = {
        kind: "P2M_PAGE_FETCH",
        requestId: 1,
        src: "m0",
        dst: "p0",
        flags: FLAG_REPLY,
        body: { page },
      };
      // Results feed `sink` so the work cannot be optimised away.
      let sink = 0;
      const codec = await timeOps(() => {
        for (let i = 0; i < BATCH; i++) {
          const decoded = decode(encode(reply));
          sink ^= (decoded.body.page as Uint8Array)[i];
        }
      }, { batchSize: BATCH });
      progress(0.5);
      const target = new Uint8Array(PAGE_SIZE);
      const copy = await timeOps(() => {
        for (let i = 0; i < BATCH; i++) {
          target.set(page);
          sink ^= target[i];
        }
      }, { batchSize: BATCH });
      progress(1);
      if (sink === -1) console.log(sink);
      return {
        "codec.page.encode_decode_per_s": {
          value: codec.perSecond,
          unit: "ops/s",
          baseline: copy.perSecond,
          ratio: codec.perSecond / copy.perSecond,
          note: "encode + decode of a P2M_PAGE_FETCH reply carrying a 4 KiB page (encode " +
            "allocates the frame and copies the page once; decode checks the header and " +
            "returns a view) per second; baseline = plain 4 KiB Uint8Array.set copies per " +
            "second into a preallocated buffer, same run; ratio = codec / baseline",
        },
      };
    },
  },
];
