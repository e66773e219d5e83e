/**
 * Model-time benchmarks: what deterministic mode costs in wall time, and what the model
 * charges one fetch of a swapped-out page (with its parts).
 *
 * @module
 */

import { MAP_ANONYMOUS, MAP_PRIVATE } from "../kernel/abi.ts";
import { encode, HEADER_SIZE } from "../kernel/codec.ts";
import { FLAG_REPLY, PAGE_SIZE } from "../kernel/messages.ts";
import { type ModelCall, RpcNode } from "../kernel/rpc.ts";
import { startCluster } from "../mod.ts";
import { type BenchCase, median } from "./harness.ts";
import { runDemoOverTcp } from "../tests/tcp_demo.ts";

const demo = new URL("../examples/workloads/demo.ts", import.meta.url).href;

/** Wall ms of the demo (2 MiB, 4 threads, 256 KiB ExCache), with or without a seed. */
async function demoWallMs(seed: number | undefined): Promise<number> {
  const cluster = await startCluster({
    ...(seed === undefined ? {} : { seed }),
    components: [
      { id: "gm", role: "manager" },
      { id: "p0", role: "processor", options: { cacheBytes: 256 * 1024, ways: 8 } },
      { id: "m0", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  }, { log: () => {} });
  try {
    const started = performance.now();
    const result = await cluster.run(demo, ["2", "4"]);
    const ms = performance.now() - started;
    if (result.exitCode !== 0) throw new Error(`demo failed: ${result.error}`);
    return ms;
  } finally {
    await cluster.stop();
  }
}

/** Benchmark cases of model time. */
export const benchmarks: BenchCase[] = [
  {
    name: "model.deterministic",
    async run(progress) {
      const pairs = 5;
      await demoWallMs(undefined); // warm-up: module loading, JIT
      const ratios: number[] = [];
      const free: number[] = [];
      const fixed: number[] = [];
      for (let i = 0; i < pairs; i++) {
        // Alternate which goes first, so drift in the machine's load hits both alike.
        const [a, b] = i % 2 === 0
          ? [await demoWallMs(undefined), await demoWallMs(1)]
          : [await demoWallMs(1), await demoWallMs(undefined)].reverse();
        free.push(a);
        fixed.push(b);
        ratios.push(b / a);
        progress((i + 1) / pairs);
      }
      const ratio = median(ratios);
      return {
        "model.deterministic.overhead_ratio": {
          value: ratio,
          unit: "x",
          baseline: median(free),
          ratio,
          goal: "<= 1.5x",
          note: `wall time of cluster.run of examples/workloads/demo.ts (2 MiB, 4 threads, ` +
            `256 KiB ExCache, in-memory transport) in deterministic mode (seed 1) divided by ` +
            `the same run free-running, each pair on fresh clusters, median of ${pairs} ` +
            `alternating pairs (ratios ${ratios.map((r) => r.toFixed(2)).join(", ")}); ` +
            `baseline = median free-running ms; deterministic median ${
              median(fixed).toFixed(0)
            } ms`,
        },
      };
    },
  },
  {
    name: "model.deterministic_tcp",
    async run(progress) {
      const pairs = 3;
      const args = ["4", "4"]; // 4 MiB, 4 threads
      await runDemoOverTcp(undefined, args); // warm-up: module loading, JIT
      const free: number[] = [];
      const fixed: number[] = [];
      const perEventUs: number[] = [];
      let events = 0;
      for (let i = 0; i < pairs; i++) {
        // Alternate which goes first, so drift in the machine's load hits both alike.
        const order = i % 2 === 0 ? [undefined, 1] : [1, undefined];
        const runs = [];
        for (const seed of order) runs.push(await runDemoOverTcp(seed, args));
        const [a, b] = i % 2 === 0 ? runs : runs.reverse();
        free.push(a.wallMs);
        fixed.push(b.wallMs);
        events = b.events;
        perEventUs.push((b.wallMs - a.wallMs) * 1000 / b.events);
        progress((i + 1) / pairs);
      }
      const ratio = median(fixed) / median(free);
      const note = `examples/workloads/demo.ts (4 MiB, 4 threads, 256 KiB ExCache) on fresh ` +
        `clusters of one OS process per component over TCP on 127.0.0.1 (manager, processor, ` +
        `2 memory, storage; tests/tcp_demo.ts), from MGR_SPAWN to its reply, median of ` +
        `${pairs} alternating pairs`;
      return {
        "model.deterministic_tcp.overhead_ratio": {
          value: ratio,
          unit: "x",
          baseline: median(free),
          ratio,
          note: `${note}: wall time in deterministic mode (seed 1: every event a round trip ` +
            `to the manager's scheduler) divided by free-running; baseline = median ` +
            `free-running ms; deterministic median ${median(fixed).toFixed(0)} ms`,
        },
        "model.deterministic_tcp.per_event": {
          value: median(perEventUs),
          unit: "us",
          note: `${note}: (deterministic - free-running wall time) / events the manager's ` +
            `scheduler served (${events} per run), per pair: ${
              perEventUs.map((u) => u.toFixed(0)).join(", ")
            } us`,
        },
      };
    },
  },
  {
    name: "model.swapin",
    async run(progress) {
      const cluster = await startCluster({
        components: [
          { id: "gm", role: "manager" },
          { id: "p0", role: "processor" }, // idle: this client plays the processor (p9)
          { id: "m0", role: "memory", options: { dramBytes: 4 * PAGE_SIZE, evictBatch: 4 } },
          { id: "s0", role: "storage" },
        ],
      }, { log: () => {} });
      const client = new RpcNode(await cluster.transport.attach("p9"));
      try {
        const latency = cluster.latency;
        await client.call("m0", "P2M_FORK", { pid: 1, parentPid: 0 });
        const { addr } = await client.call("m0", "P2M_MMAP", {
          pid: 1,
          addr: 0,
          length: 8 * PAGE_SIZE,
          prot: 3,
          flags: MAP_PRIVATE | MAP_ANONYMOUS,
          path: "",
          offset: 0,
        });
        // Five pages into four frames: the fifth sends the first four to swap on s0.
        for (let i = 0; i < 5; i++) {
          await client.call("m0", "P2M_PAGE_FLUSH", {
            pid: 1,
            vaddr: addr + i * PAGE_SIZE,
            page: new Uint8Array(PAGE_SIZE).fill(i + 1),
          });
        }
        progress(0.5);
        const model: ModelCall = { atNs: 1e9 };
        await client.call("m0", "P2M_PAGE_FETCH", { pid: 1, vaddr: addr }, { model });
        const bodies = (kind: "M2S_READ", request: Record<string, unknown>, reply: object) =>
          encode({ kind, requestId: 1, src: "m0", dst: "s0", flags: 0, body: request }).length +
          encode({
            kind,
            requestId: 1,
            src: "s0",
            dst: "m0",
            flags: FLAG_REPLY,
            body: reply as Record<string, unknown>,
          }).length - 2 * HEADER_SIZE;
        const fetchRpc = latency.messageNs(16 + PAGE_SIZE); // as the processor charges it
        const handling = latency.service("page").latencyNs;
        const storageRpc = latency.messageNs(
          bodies("M2S_READ", { path: "@swap/m0.bin", offset: 0, length: PAGE_SIZE }, {
            data: new Uint8Array(PAGE_SIZE),
          }),
        );
        const device = latency.deviceNs("ssd", "read", PAGE_SIZE);
        const total = fetchRpc + model.serviceNs!;
        const us = (ns: number) => `${(ns / 1000).toFixed(2)} µs`;
        progress(1);
        return {
          "model.swapin.ns": {
            value: total,
            unit: "ns",
            note: `model time of one P2M_PAGE_FETCH of a page the memory component had ` +
              `swapped to the SSD of a storage component (legoos-ib, idle resources): ` +
              `${us(total)} = fetch RPC ${us(fetchRpc)} + what m0 reported ${
                us(model.serviceNs!)
              } (fault handling ${us(handling)} + M2S_READ RPC ${us(storageRpc)} + SSD ` +
              `read ${us(device)}; queueing ${us(model.queueNs ?? 0)})`,
          },
        };
      } finally {
        await client.close();
        await cluster.stop();
      }
    },
  },
];
