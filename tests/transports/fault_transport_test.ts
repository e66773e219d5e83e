/**
 * Issue 18, fault injection: the `fault` transport wraps any transport, passes the
 * transport contract with every fault off, replays the same faults from the same seed,
 * and the RPC layer stays exactly-once under lost and duplicated frames.
 */

import assert from "node:assert/strict";
import { encode } from "../../kernel/codec.ts";
import { KernelError } from "../../kernel/errors.ts";
import { RpcNode } from "../../kernel/rpc.ts";
import { startCluster } from "../../mod.ts";
import { createFaultTransport, type FaultOptions } from "../../transports/fault/mod.ts";
import { createMemoryTransport } from "../../transports/memory.ts";
import { runTransportContract } from "./transport_contract.ts";

runTransportContract(
  "fault (all faults off, over memory)",
  () => createFaultTransport(createMemoryTransport(), { seed: 1 }),
);

const frame = (src: string, dst: string, n: number) =>
  encode({
    kind: "SYS_PING",
    requestId: n + 1,
    src,
    dst,
    flags: 0,
    body: { data: new Uint8Array([n]) },
  });

/** Sends `count` numbered frames a → b under `options`; returns what b got and the trace. */
async function traffic(options: FaultOptions, count = 40) {
  const transport = createFaultTransport(createMemoryTransport(), options);
  try {
    const a = await transport.attach("a");
    const b = await transport.attach("b");
    for (let n = 0; n < count; n++) await a.send("b", frame("a", "b", n));
    await new Promise((resolve) => setTimeout(resolve, 4 * (options.delayMsMax ?? 0) + 20));
    const got: number[] = [];
    for (let f = b.receiveQueue.tryTake(); f; f = b.receiveQueue.tryTake()) {
      got.push(f.bytes[f.bytes.length - 1]);
    }
    return { got, trace: transport.trace.map((d) => `${d.n}:${d.action}:${d.delayMs}`) };
  } finally {
    await transport.close();
  }
}

const MIXED: FaultOptions = {
  lossProbability: 0.2,
  duplicateProbability: 0.2,
  reorderProbability: 0.2,
  delayMsMin: 0,
  delayMsMax: 3,
};

Deno.test("fault transport: one seed replays the same faults; another seed gives others", async () => {
  const first = await traffic({ ...MIXED, seed: 42 });
  const again = await traffic({ ...MIXED, seed: 42 });
  const other = await traffic({ ...MIXED, seed: 43 });
  assert.deepEqual(again.trace, first.trace);
  assert.notDeepEqual(other.trace, first.trace);
  for (const action of ["lost", "duplicated", "reordered", "delayed"]) {
    assert.ok(first.trace.some((t) => t.includes(`:${action}:`)), `${action} happens`);
  }
  // What arrived follows the trace: lost frames never, duplicated ones twice.
  const lost = first.trace.filter((t) => t.includes(":lost:")).length;
  const duplicated = first.trace.filter((t) => t.includes(":duplicated:")).length;
  assert.equal(first.got.length, 40 - lost + duplicated);
});

Deno.test("fault transport: loss, duplication and reordering each do what they say", async () => {
  assert.deepEqual((await traffic({ lossProbability: 1 }, 10)).got, []);
  const twice = (await traffic({ duplicateProbability: 1 }, 10)).got;
  assert.deepEqual(twice, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9]);
  const shuffled = (await traffic({ reorderProbability: 0.5, seed: 5 }, 30)).got;
  assert.deepEqual([...shuffled].sort((x, y) => x - y), Array.from({ length: 30 }, (_, i) => i));
  assert.notDeepEqual(shuffled, Array.from({ length: 30 }, (_, i) => i), "some came out of order");
});

Deno.test("fault transport: a partition cuts two-sided and one-sided traffic until healed", async () => {
  const transport = createFaultTransport(createMemoryTransport(), {
    partitions: [["a"], ["b", "c"]],
  });
  try {
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((id) => transport.attach(id)));
    await a.send("b", frame("a", "b", 1));
    await b.send("c", frame("b", "c", 2));
    assert.equal(b.receiveQueue.tryTake(), undefined, "a → b is cut");
    assert.equal(c.receiveQueue.tryTake()?.from, "b", "b → c is not");
    const region = b.registerRegion(new Uint8Array(16), { remoteRead: true, remoteWrite: true });
    await assert.rejects(
      a.read("b", region.key, 0, 4),
      (e) => e instanceof KernelError && e.code === "EHOSTUNREACH",
    );
    transport.heal();
    await a.send("b", frame("a", "b", 3));
    assert.equal(b.receiveQueue.tryTake()?.from, "a");
    assert.equal((await a.read("b", region.key, 0, 4)).length, 4);
    assert.equal(transport.faults.partitioned, 1);
  } finally {
    await transport.close();
  }
});

Deno.test("fault transport: a component crashes at its chosen message", async () => {
  const crashed: string[] = [];
  const transport = createFaultTransport(createMemoryTransport(), {
    crashAt: { component: "a", message: 3 },
    onCrash: (id) => crashed.push(id),
  });
  try {
    const a = await transport.attach("a");
    const b = await transport.attach("b");
    await a.send("b", frame("a", "b", 1));
    await a.send("b", frame("a", "b", 2));
    await a.send("b", frame("a", "b", 3)); // the crash: this frame never leaves
    assert.deepEqual(crashed, ["a"]);
    assert.equal(b.receiveQueue.length, 2);
    await assert.rejects(a.send("b", frame("a", "b", 4)), (e) => e instanceof KernelError);
    await assert.rejects(b.send("a", frame("b", "a", 5)), (e) => e instanceof KernelError);
  } finally {
    await transport.close();
  }
});

/** Two RPC nodes over a fault transport; the server counts how often it does the work. */
async function rpcPair(options: FaultOptions) {
  const transport = createFaultTransport(createMemoryTransport(), options);
  const server = new RpcNode(await transport.attach("m0"));
  const client = new RpcNode(await transport.attach("p0"));
  const served = new Map<number, number>();
  server.handle({
    P2M_BRK: ({ addr }) => {
      served.set(addr, (served.get(addr) ?? 0) + 1);
      return { addr };
    },
  });
  const close = async () => {
    await client.close();
    await server.close();
    await transport.close();
  };
  return { transport, server, client, served, close };
}

Deno.test("RPC over duplicated frames: every request is served once", async () => {
  const r = await rpcPair({ seed: 9, duplicateProbability: 1 });
  try {
    for (let i = 0; i < 20; i++) {
      assert.equal((await r.client.call("m0", "P2M_BRK", { pid: 1, addr: i })).addr, i);
    }
    await new Promise((resolve) => setTimeout(resolve, 20)); // the last copy is still queued
    assert.deepEqual([...r.served.values()], Array(20).fill(1));
    assert.equal(r.server.stats().duplicateRequests, 20);
  } finally {
    await r.close();
  }
});

Deno.test("RPC retries over lost and reordered frames: every call completes, each served once", async () => {
  const r = await rpcPair({
    seed: 11,
    lossProbability: 0.3,
    reorderProbability: 0.2,
    delayMsMax: 2,
  });
  try {
    const retry = { attempts: 50, backoffMs: 1, maxBackoffMs: 5 };
    const replies = await Promise.all(
      Array.from(
        { length: 40 },
        (_, i) => r.client.call("m0", "P2M_BRK", { pid: 1, addr: i }, { timeoutMs: 40, retry }),
      ),
    );
    assert.deepEqual(replies.map((x) => x.addr), Array.from({ length: 40 }, (_, i) => i));
    assert.ok(r.transport.faults.lost > 0, "frames were lost");
    assert.ok(r.client.stats().retries > 0, "and calls retried");
    // A lost reply made the client ask again; the server answered without serving twice.
    assert.deepEqual([...r.served.values()], Array(40).fill(1));
  } finally {
    await r.close();
  }
});

Deno.test("the fault plugin wraps the configured transport and a cluster runs through it", async () => {
  const cluster = await startCluster({
    transport: {
      plugin: "fault",
      options: { inner: { plugin: "memory" }, seed: 3, delayMsMax: 1, reorderProbability: 0.05 },
    },
    components: [
      { id: "gm", role: "manager" },
      { id: "p0", role: "processor", options: { cacheBytes: 262144 } },
      { id: "m0", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  }, { log: () => {} });
  try {
    const demo = new URL("../../examples/workloads/demo.ts", import.meta.url).href;
    const result = await cluster.run(demo, ["1"]);
    assert.equal(result.exitCode, 0, result.error);
  } finally {
    await cluster.stop();
  }
});
