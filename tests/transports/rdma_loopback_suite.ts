/**
 * The RDMA transport's tests over the loopback provider, through the real libibverbs:
 * run by `rdma_loopback_test.ts` in a subprocess whose environment points libibverbs at
 * the provider (it must be set before the library loads). Not a `_test.ts` file, so the
 * main test run does not pick it up without that environment.
 *
 * @module
 */

import assert from "node:assert/strict";
import { encode } from "../../kernel/codec.ts";
import { KernelError, UnreachableError } from "../../kernel/errors.ts";
import { RpcNode } from "../../kernel/rpc.ts";
import { type Cluster, startCluster } from "../../mod.ts";
import {
  CompletionError,
  createRdmaTransport,
  type RdmaMode,
  VerbsError,
} from "../../transports/rdma/mod.ts";
import { VERBS } from "../../transports/rdma/abi.ts";
import { PinnedMemory, VerbsContext } from "../../transports/rdma/verbs.ts";
import { runTransportContract } from "./transport_contract.ts";

const MODES: RdmaMode[] = ["connectionless", "connected"];
const small = { srqDepth: 128, sendBuffers: 32, ringSlots: 16 };

for (const mode of MODES) {
  runTransportContract(`rdma ${mode}`, () => createRdmaTransport({ mode, ...small }));
}

function ping(src: string, dst: string, requestId: number, data: Uint8Array): Uint8Array {
  return encode({ kind: "SYS_PING", requestId, src, dst, flags: 0, body: { data } });
}

for (const mode of MODES) {
  Deno.test(`rdma ${mode}: RPC calls of 128 B to 64 KiB, 200 in flight, answered out of order`, async () => {
    const transport = createRdmaTransport({ mode, ...small });
    try {
      const server = new RpcNode(await transport.attach("srv")).handle({
        SYS_PING: async ({ data }) => {
          if (data[0]) await new Promise((resolve) => setTimeout(resolve, data[0]));
          return { data };
        },
      });
      const client = new RpcNode(await transport.attach("cli"));
      for (const size of [128, 4096, 4200, 65536]) {
        const data = new Uint8Array(size).map((_, i) => (i * 7 + size) & 0xff);
        data[0] = 0;
        const reply = await client.call("srv", "SYS_PING", { data });
        assert.deepEqual(reply.data, data, `${size}-byte call comes back intact`);
      }
      const finished: number[] = [];
      await Promise.all([30, 20, 10, 0].map(async (delay, i) => {
        const reply = await client.call("srv", "SYS_PING", { data: new Uint8Array([delay, i]) });
        assert.equal(reply.data[1], i);
        finished.push(i);
      }));
      assert.deepEqual(finished, [3, 2, 1, 0], "no reply waited for an earlier one");
      const many = await Promise.all(
        Array.from(
          { length: 200 },
          (_, i) => client.call("srv", "SYS_PING", { data: new Uint8Array([0, i & 0xff, i >> 8]) }),
        ),
      );
      many.forEach((reply, i) => assert.equal(reply.data[1] | reply.data[2] << 8, i));
      await client.close();
      await server.close();
    } finally {
      await transport.close();
    }
  });

  Deno.test(`rdma ${mode}: frames from one sender arrive in order, multi-chunk ones intact`, async () => {
    const transport = createRdmaTransport({ mode, ...small });
    try {
      const a = await transport.attach("a");
      const b = await transport.attach("b");
      const sizes = [100, 20_000, 5, 70_000, 4096, 1];
      await Promise.all(
        sizes.map((n, i) => a.send("b", ping("a", "b", i, new Uint8Array(n).fill(i)))),
      );
      for (let i = 0; i < sizes.length; i++) {
        const frame = await b.receiveQueue.take();
        assert.ok(frame);
        assert.equal(frame.bytes.at(-1), i, `frame ${i} is the ${i}th to arrive`);
        assert.equal(frame.bytes.length, ping("a", "b", i, new Uint8Array(sizes[i])).length);
      }
    } finally {
      await transport.close();
    }
  });

  Deno.test(`rdma ${mode}: one-sided read/write of a 64 KiB region and atomics`, async () => {
    const transport = createRdmaTransport({ mode, ...small });
    try {
      const a = await transport.attach("a");
      const b = await transport.attach("b");
      const memory = new Uint8Array(65536);
      const region = b.registerRegion(memory, { remoteRead: true, remoteWrite: true });
      const data = new Uint8Array(65536).map((_, i) => i * 13);
      await a.write("b", region.key, 0, data);
      assert.deepEqual(memory, data);
      assert.deepEqual(await a.read("b", region.key, 0, 65536), data);
      const word = new DataView(memory.buffer);
      word.setBigUint64(64, 40n, true);
      assert.equal(await a.fetchAdd("b", region.key, 64, 2n), 40n);
      assert.equal(word.getBigUint64(64, true), 42n);
      assert.equal(await a.compareSwap("b", region.key, 64, 41n, 7n), 42n, "no swap on mismatch");
      assert.equal(await a.compareSwap("b", region.key, 64, 42n, 7n), 42n);
      assert.equal(word.getBigUint64(64, true), 7n);
    } finally {
      await transport.close();
    }
  });

  Deno.test(`rdma ${mode}: a peer that disappears fails later sends with UnreachableError`, async () => {
    const transport = createRdmaTransport({ mode, ...small });
    try {
      const a = await transport.attach("a");
      const b = await transport.attach("b");
      await a.send("b", ping("a", "b", 1, new Uint8Array([1])));
      assert.ok(await b.receiveQueue.take());
      await b.close();
      await new Promise((resolve) => setTimeout(resolve, 20)); // the "bye" arrives
      await assert.rejects(a.send("b", ping("a", "b", 2, new Uint8Array([2]))), UnreachableError);
      await assert.rejects(a.read("b", 1, 0, 1), UnreachableError);
    } finally {
      await transport.close();
    }
  });
}

Deno.test("rdma: a page-fetching workload runs on a cluster whose transport is rdma", async () => {
  for (const mode of MODES) {
    const log: string[] = [];
    const cluster: Cluster = await startCluster({
      transport: { plugin: "rdma", options: { mode, srqDepth: 256, sendBuffers: 64 } },
      components: [
        { id: "gm", role: "manager" },
        { id: "p0", role: "processor", options: { cacheBytes: 8 * 4096 } },
        { id: "m0", role: "memory" },
        { id: "s0", role: "storage" },
      ],
    }, { log: (id, message) => log.push(`${id} ${message}`) });
    try {
      const workload = new URL("../workloads/random_access.ts", import.meta.url).href;
      const result = await cluster.run(workload, ["5", "1500", "24", "2"]);
      assert.equal(result.exitCode, 0, `${mode}: ${result.error ?? ""}\n${log.join("\n")}`);
      const p0 = cluster.stats().p0 as Record<string, number>;
      const m0 = cluster.stats().m0 as Record<string, number>;
      assert.ok(p0.misses > 24, `${mode}: the 8-line cache missed (${p0.misses} misses)`);
      assert.ok(m0.faultsServed > 0, `${mode}: m0 served page fetches over RDMA`);
      assert.equal(cluster.transport.name, "rdma");
    } finally {
      await cluster.stop();
    }
  }
});

Deno.test("rdma: bad device, port and GID index are typed errors naming the verb", () => {
  assert.throws(
    () => createRdmaTransport({ device: "mlx5_9" }),
    (e) =>
      e instanceof KernelError &&
      /no RDMA device named "mlx5_9" \(devices: /.test(e.message),
  );
  assert.throws(
    () => createRdmaTransport({ port: 200 }),
    (e) => e instanceof VerbsError && e.verb === "ibv_query_port" && /no port 200/.test(e.message),
  );
  assert.throws(
    () => createRdmaTransport({ gidIndex: 1000 }),
    (e) =>
      e instanceof VerbsError && e.verb === "ibv_query_gid" &&
      /no GID at index 1000/.test(e.message),
  );
});

Deno.test("rdma verbs: a bad rkey completes with IBV_WC_REM_ACCESS_ERR, a typed error, and the process lives on", () => {
  const ctx = VerbsContext.open(Deno.env.get("LEGOEMU_RDMA_DEVICE") || undefined);
  const pd = ctx.allocPd();
  const cq = ctx.createCq(64);
  const memory = new PinnedMemory(ctx.libc, 8192);
  const mr = pd.register(
    memory,
    VERBS.IBV_ACCESS_LOCAL_WRITE | VERBS.IBV_ACCESS_REMOTE_READ | VERBS.IBV_ACCESS_REMOTE_WRITE,
  );
  const a = pd.createQp({ type: "RC", sendCq: cq, recvCq: cq });
  const b = pd.createQp({ type: "RC", sendCq: cq, recvCq: cq });
  try {
    const port = ctx.queryPort(1);
    const remote = { lid: port.lid, gid: ctx.queryGid(1, 0), global: false };
    assert.throws(
      () => a.toRtr({ remoteQpn: b.qpn, remote }, 1),
      (e) => e instanceof VerbsError && e.verb === "ibv_modify_qp" && e.code === "EINVAL",
      "RESET -> RTR skips INIT: refused",
    );
    for (const [x, y] of [[a, b], [b, a]]) {
      x.toInit(1);
      x.toRtr({ remoteQpn: y.qpn, remote }, 1);
      x.toRts();
    }
    const sge = { address: memory.address, length: 8, lkey: mr.lkey };
    a.postSend({
      wrId: 1,
      opcode: VERBS.IBV_WR_RDMA_READ,
      sge,
      remoteAddress: 4096n,
      rkey: mr.rkey,
    });
    a.postSend({
      wrId: 2,
      opcode: VERBS.IBV_WR_RDMA_READ,
      sge,
      remoteAddress: 4096n,
      rkey: mr.rkey + 999,
    });
    const seen: number[] = [];
    cq.poll((wc) => seen.push(wc.status));
    assert.deepEqual(seen, [VERBS.IBV_WC_SUCCESS, VERBS.IBV_WC_REM_ACCESS_ERR]);
    // The transport turns such a completion into a CompletionError naming verb and status.
    const error = new CompletionError("IBV_WR_RDMA_READ", seen[1], "IBV_WC_REM_ACCESS_ERR");
    assert.match(error.message, /IBV_WR_RDMA_READ completed with IBV_WC_REM_ACCESS_ERR \(10\)/);
    assert.equal(a.state, VERBS.IBV_QPS_ERR, "an RC QP moves to the error state on it");
    assert.throws(
      () => ctx.createCq(0),
      (e) => e instanceof VerbsError && e.verb === "ibv_create_cq",
    );
  } finally {
    a.destroy();
    b.destroy();
    mr.deregister();
    memory.free();
    cq.destroy();
    pd.dealloc();
    ctx.close();
  }
});

Deno.test("rdma transport: a write to a region deregistered after lookup fails with EINVAL naming the completion", async () => {
  const transport = createRdmaTransport({ mode: "connected", ...small });
  try {
    const a = await transport.attach("a");
    const b = await transport.attach("b");
    const region = b.registerRegion(new Uint8Array(4096), { remoteRead: true, remoteWrite: true });
    await a.write("b", region.key, 0, new Uint8Array([1]));
    b.deregisterRegion(region);
    await assert.rejects(
      a.write("b", region.key, 0, new Uint8Array([2])),
      (e) =>
        e instanceof KernelError && e.code === "EINVAL" &&
        /IBV_WR_RDMA_WRITE completed with IBV_WC_REM_ACCESS_ERR \(10\)/.test(e.message),
    );
    // The broken RC connection is replaced on next use.
    const again = b.registerRegion(new Uint8Array(16), { remoteRead: true, remoteWrite: true });
    await a.write("b", again.key, 0, new Uint8Array([3]));
    assert.deepEqual([...await a.read("b", again.key, 0, 1)], [3]);
  } finally {
    await transport.close();
  }
});
