/**
 * The demo workload on a fresh cluster of one OS process per component over TCP: the
 * manager in this process (hosting the model-time scheduler when seeded), a processor with
 * a 256 KiB ExCache, two memory components (round-robin vRegion placement, so wall timing
 * cannot change where pages go) and storage in processes of their own. For the
 * deterministic-mode tests and benchmark.
 *
 * @module
 */

import assert from "node:assert/strict";
import { RpcNode } from "../kernel/rpc.ts";
import { createStockRegistry } from "../plugins/stock.ts";
import { createTcpTransport } from "../transports/tcp/mod.ts";
import { componentArgs, spawnComponent, startTcpManager } from "./tcp_manager.ts";

const demo = new URL("../examples/workloads/demo.ts", import.meta.url).href;

/** The demo's arguments the tests use: 2 MiB, 4 threads. */
export const DEMO_ARGS = ["2", "4"];

/** The processor's options: a small ExCache, so the demo misses and evicts. */
export const DEMO_PROCESSOR = { cacheBytes: 256 * 1024, ways: 8 };

/** Counters and model time of a run, without its wall times. */
export function fingerprint(result: { modelNs: number; stats: unknown }): string {
  const stats = Object.fromEntries(
    Object.entries(result.stats as Record<string, number>).filter(([name]) =>
      !name.endsWith("wallNs")
    ),
  );
  return JSON.stringify({ modelNs: result.modelNs, stats });
}

/** The demo on a fresh TCP cluster with `seed` (free-running without); with its wall time. */
export async function runDemoOverTcp(
  seed: number | undefined,
  args: string[] = DEMO_ARGS,
): Promise<{ print: string; wallMs: number; events: number }> {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-dettcp-" });
  const secretFile = `${dir}/cluster.secret`;
  await Deno.writeTextFile(secretFile, "0123456789abcdef0123456789abcdef\n", { mode: 0o600 });
  const registry = createStockRegistry();
  const logs: string[] = [];
  const gm = await startTcpManager(
    "det-tcp",
    registry,
    secretFile,
    (id, line) => logs.push(`[${id}] ${line}`),
    {},
    seed,
  );
  const seedArgs = seed === undefined ? [] : ["--seed", String(seed)];
  const children = await Promise.all([
    spawnComponent(componentArgs("m0", "memory", gm, secretFile)),
    spawnComponent(componentArgs("m1", "memory", gm, secretFile)),
    spawnComponent(componentArgs("s0", "storage", gm, secretFile, { root: `${dir}/s0` })),
  ]);
  // The processor joins last, as `legoemu cluster` starts it: every memory component is up.
  children.push(
    await spawnComponent([
      ...componentArgs("p0", "processor", gm, secretFile, DEMO_PROCESSOR),
      ...seedArgs,
    ]),
  );
  const transport = createTcpTransport({ log: () => {}, secretFile });
  const client = new RpcNode(
    await transport.attach("c0", {
      listen: null,
      manager: { id: "gm", address: gm.addresses.tcp },
    }),
  );
  try {
    const started = performance.now();
    const result = await client.call("gm", "MGR_SPAWN", { workload: demo, args, threads: 4 }, {
      timeoutMs: 120_000,
    });
    const wallMs = performance.now() - started;
    assert.equal(result.exitCode, 0, `${result.error}\n${logs.join("\n")}`);
    const stats = gm.booted.monitor.stats() as { scheduler?: { events: number } };
    return { print: fingerprint(result), wallMs, events: stats.scheduler?.events ?? 0 };
  } finally {
    await client.close();
    await transport.close();
    for (const c of children) await c.kill();
    await gm.stop();
    await Deno.remove(dir, { recursive: true });
  }
}
