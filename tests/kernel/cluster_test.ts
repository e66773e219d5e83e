import assert from "node:assert/strict";
import { type ClusterConfigInput, RpcNode, startCluster } from "../../mod.ts";

const workload = (name: string) => new URL(`../workloads/${name}`, import.meta.url).href;
const demoWorkload = new URL("../../examples/workloads/demo.ts", import.meta.url).href;
const quiet = { log: () => {} };

function config(cacheBytes: number): ClusterConfigInput {
  return {
    name: "test",
    components: [
      { id: "gm", role: "manager" },
      { id: "p0", role: "processor", options: { cacheBytes } },
      { id: "m0", role: "memory", options: { dramBytes: 32 * 1024 * 1024 } },
      { id: "s0", role: "storage" },
    ],
  };
}

Deno.test("startCluster() runs the demo workload end to end over the in-memory transport", async () => {
  const cluster = await startCluster(config(64 * 1024), quiet);
  try {
    const result = await cluster.run(demoWorkload, ["1"]);
    assert.equal(result.exitCode, 0, result.error);
    assert.equal(result.processor, "p0");
    assert.equal(result.home, "m0");
    const pages = (1024 * 1024) / 4096;
    // A 16-line cache over 256 pages: filling them evicts dirty lines to the memory
    // component, and verifying fetches every evicted page back.
    assert.ok(result.stats.pagesFetched >= pages - 16, `fetched ${result.stats.pagesFetched}`);
    assert.ok(result.stats.piggybacked > 0, "dirty victims should ride on fetches");
    assert.ok(result.modelNs > 0 && result.wallNs > 0);

    // The page data really travelled by message: the memory component served each fetch.
    const memory = cluster.stats().m0 as Record<string, number>;
    assert.equal(memory.fetches, result.stats.pagesFetched);
    assert.equal(memory.framesUsed, 0, "exit frees every frame");
    const memoryRpc = cluster.rpc.get("m0")!.stats();
    assert.ok(memoryRpc.bytesSent >= memory.fetches * 4096);

    // The file went to the storage component's host directory.
    const storage = cluster.stats().s0 as { root: string };
    const text = await Deno.readTextFile(`${storage.root}/demo.txt`);
    assert.match(text, /legoemu demo: 1 MiB touched/);
  } finally {
    await cluster.stop();
  }
});

Deno.test("a process reads back exactly what it wrote through a tiny cache", async () => {
  const cluster = await startCluster(config(3 * 4096), quiet);
  try {
    const result = await cluster.run(workload("pattern.ts"), ["48"]);
    assert.equal(result.exitCode, 0, result.error ?? "mismatches");
    assert.ok(result.stats.evictions > 0);
  } finally {
    await cluster.stop();
  }
});

Deno.test("a segmentation fault ends only its own process; the next one runs", async () => {
  const cluster = await startCluster(config(64 * 1024), quiet);
  try {
    const bad = await cluster.run(workload("segfault.ts"));
    assert.equal(bad.exitCode, 1);
    assert.match(bad.error ?? "", /segmentation fault/);
    assert.match(bad.error ?? "", /EFAULT|m0/);
    const failed = await cluster.run(workload("throws.ts"));
    assert.equal(failed.exitCode, 1);
    assert.match(failed.error ?? "", /workload bug on purpose/);
    const good = await cluster.run(workload("pattern.ts"), ["8"]);
    assert.equal(good.exitCode, 0);
    const memory = cluster.stats().m0 as Record<string, number>;
    assert.equal(memory.processes, 0, "every process's memory is freed");
    assert.equal(memory.framesUsed, 0);
    const processes = cluster.manager.snapshot().processes;
    assert.deepEqual(processes.map((p) => [p.pid, p.state, p.exitCode]), [
      [1, "exited", 1],
      [2, "exited", 1],
      [3, "exited", 0],
    ]);
  } finally {
    await cluster.stop();
  }
});

Deno.test("a workload that does not exist fails clearly", async () => {
  const cluster = await startCluster(config(64 * 1024), quiet);
  try {
    const result = await cluster.run(workload("no_such_workload.ts"));
    assert.equal(result.exitCode, 1);
    assert.match(result.error ?? "", /cannot load workload/);
  } finally {
    await cluster.stop();
  }
});

Deno.test("the manager records joins and emits process events", async () => {
  const cluster = await startCluster(config(64 * 1024), quiet);
  try {
    const components = cluster.manager.snapshot().components;
    assert.deepEqual(components.map((c) => [c.id, c.role, c.state]).sort(), [
      ["gm", "manager", "up"],
      ["m0", "memory", "up"],
      ["p0", "processor", "up"],
      ["s0", "storage", "up"],
    ]);
    await cluster.run(workload("pattern.ts"), ["2"]);
    const types = cluster.events.recent().map((e) => e.type);
    assert.ok(types.includes("process.start") && types.includes("process.exit"));
  } finally {
    await cluster.stop();
  }
});

Deno.test("MGR_SPAWN runs a workload by message: manager places it, the processor runs it", async () => {
  const cluster = await startCluster(config(64 * 1024), quiet);
  try {
    // A client component on the same transport, as the CLI's `run` will be.
    const client = new RpcNode(await cluster.transport.attach("cli"));
    const reply = await client.call("gm", "MGR_SPAWN", {
      workload: workload("pattern.ts"),
      args: ["4"],
      threads: 1,
    });
    assert.equal(reply.exitCode, 0);
    assert.equal(reply.processor, "p0");
    const stats = reply.stats as Record<string, number>;
    assert.ok(stats.hits + stats.misses > 0, JSON.stringify(stats));
    const lookup = await client.call("gm", "MGR_LOOKUP", { id: "m0" });
    assert.deepEqual([lookup.role, lookup.state], ["memory", "up"]);
    await assert.rejects(client.call("gm", "MGR_LOOKUP", { id: "zz" }), /ENOENT|no component/);
    const { state } = await client.call("gm", "MGR_SNAPSHOT", {});
    assert.equal((state as { processes: unknown[] }).processes.length, 1);
    await assert.rejects(
      client.call("gm", "MGR_SPAWN", { workload: "x.ts", args: [1], threads: 1 }),
      /args must be an array of strings/,
    );
    await client.close();
  } finally {
    await cluster.stop();
  }
});
