/**
 * Deterministic mode across OS processes: a seeded cluster of one process per component
 * over TCP (the manager here, hosting the scheduler; processor, two memory components and
 * storage as processes of their own) runs the demo workload with 4 threads through a small
 * ExCache. The same seed gives byte-identical counters and model time, another seed
 * another run, and the run equals the same cluster booted in one process with that seed.
 */

import assert from "node:assert/strict";
import { startCluster } from "../../../mod.ts";
import { RpcNode } from "../../../kernel/rpc.ts";
import { createStockRegistry } from "../../../plugins/stock.ts";
import { createTcpTransport } from "../../../transports/tcp/mod.ts";
import { componentArgs, spawnComponent, startTcpManager } from "../../tcp_manager.ts";

const demo = new URL("../../../examples/workloads/demo.ts", import.meta.url).href;
const ARGS = ["2", "4"]; // 2 MiB, 4 threads
const PROCESSOR = { cacheBytes: 256 * 1024, ways: 8 };

/** Counters and model time of a run, without its wall times. */
function fingerprint(result: { modelNs: number; stats: unknown }): string {
  const stats = Object.fromEntries(
    Object.entries(result.stats as Record<string, number>).filter(([name]) =>
      !name.endsWith("wallNs")
    ),
  );
  return JSON.stringify({ modelNs: result.modelNs, stats });
}

/** The demo on a fresh TCP cluster with `seed` (free-running without); with its wall time. */
export async function runTcp(
  seed: number | undefined,
  args: string[] = ARGS,
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
      ...componentArgs("p0", "processor", gm, secretFile, PROCESSOR),
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

/** The same cluster and run in one process (in-memory transport). */
async function runInProcess(seed: number): Promise<string> {
  const cluster = await startCluster({
    seed,
    components: [
      { id: "gm", role: "manager" },
      { id: "m0", role: "memory" },
      { id: "m1", role: "memory" },
      { id: "s0", role: "storage" },
      { id: "p0", role: "processor", options: PROCESSOR },
    ],
  }, { log: () => {} });
  try {
    const result = await cluster.run(demo, ARGS);
    assert.equal(result.exitCode, 0, result.error);
    return fingerprint(result);
  } finally {
    await cluster.stop();
  }
}

Deno.test("deterministic mode over TCP, one process per component: the same seed gives byte-identical counters and model time; another seed differs", async () => {
  const first = await runTcp(7);
  const second = await runTcp(7);
  assert.equal(second.print, first.print);
  const stats = JSON.parse(first.print).stats;
  assert.equal(stats.threads, 4);
  assert.equal(stats["model.seed"], 7);
  assert.ok(stats.evictions > 0 && stats.misses > 0, first.print);
  assert.ok(first.events > 0, "the manager's scheduler served the events");
  const other = await runTcp(8);
  const strip = (print: string) => print.replace(/"model.seed":\d+/, "");
  assert.notEqual(strip(other.print), strip(first.print), "another seed orders ties differently");
  // Model time comes from the latency model, not the real transport: one process gives the same.
  assert.equal(await runInProcess(7), first.print);
});
