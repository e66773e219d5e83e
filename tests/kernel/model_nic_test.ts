import assert from "node:assert/strict";
import { encode } from "../../kernel/codec.ts";
import type { LatencyModel } from "../../kernel/latency.ts";
import { FLAG_REPLY } from "../../kernel/messages.ts";
import { ModelNic } from "../../kernel/model_nic.ts";
import { chargeModel } from "../../kernel/model_time.ts";
import { type ModelCall, RpcNode } from "../../kernel/rpc.ts";
import { createStockRegistry } from "../../plugins/stock.ts";
import { createMemoryTransport } from "../../transports/memory.ts";

const legoosIb = () =>
  createStockRegistry().create<LatencyModel>("latency-model", "legoos-ib", {}, {});

Deno.test("ModelNic: each direction serializes at the link rate, the two directions do not", async () => {
  const latency = await legoosIb();
  const nic = new ModelNic("m0", latency);
  const w = latency.wireNs(4160); // a 4 KiB page and a 64-byte header
  assert.equal(w, 4160 * 8 / 40); // 40 Gbit/s: 0.2 ns per byte
  assert.deepEqual([0, 0, 0].map(() => nic.send(1_000, 4160)), [0, w, 2 * w]);
  assert.equal(nic.receive(1_000, 4160), 0); // full duplex: receiving is not sending
  assert.equal(nic.send(1_000 + 3 * w, 4160), 0); // idle again after the three
  assert.deepEqual(nic.stats().tx, { reservations: 4, busyNs: 4 * w, waitedNs: 3 * w });
});

Deno.test("RPC: replies sent at once queue at the server's NIC, requests at the caller's", async () => {
  const latency = await legoosIb();
  const transport = createMemoryTransport();
  const page = new Uint8Array(4096);
  const server = new RpcNode(await transport.attach("m0")).chargeWith(latency).handle({
    SYS_PING: () => ({ data: page }),
  });
  const client = new RpcNode(await transport.attach("p0")).chargeWith(latency);
  // Outside model time (no `model`): nothing occupies a NIC.
  await client.call("m0", "SYS_PING", { data: new Uint8Array(0) });
  try {
    const models: ModelCall[] = [0, 1, 2].map(() => ({ atNs: 10_000 }));
    await Promise.all(
      models.map((model) => client.call("m0", "SYS_PING", { data: new Uint8Array(0) }, { model })),
    );
    const frame = (body: Uint8Array, flags: number) =>
      encode({ kind: "SYS_PING", requestId: 1, src: "p0", dst: "m0", flags, body: { data: body } })
        .length;
    const request = latency.wireNs(frame(new Uint8Array(0), 0));
    const reply = latency.wireNs(frame(page, FLAG_REPLY));
    // Call k leaves the caller after the k requests before it (k * request), reaches the
    // server then, and its reply waits at the server for the k replies before it: the
    // server's queueing is k * (reply - request), the caller's own NIC k * request.
    models.forEach((m, k) => {
      assert.ok(Math.abs(m.queueNs! - k * (reply - request)) < 1e-9, `call ${k}: ${m.queueNs}`);
      assert.equal(m.serviceNs, m.queueNs);
      assert.ok(Math.abs(m.nicQueueNs! - k * request) < 1e-9, `call ${k}: ${m.nicQueueNs}`);
    });
  } finally {
    await client.close();
    await server.close();
    await transport.close();
  }
});

Deno.test("RPC: a request outside model time charges nobody at the server", async () => {
  const latency = await legoosIb();
  const transport = createMemoryTransport();
  let charged = -1;
  const server = new RpcNode(await transport.attach("m0")).chargeWith(latency).handle({
    SYS_PING: ({ data }, ctx) => {
      chargeModel(500, "service"); // no span: nobody pays
      charged = ctx.model.elapsedNs;
      return { data };
    },
  });
  const client = new RpcNode(await transport.attach("p0"));
  try {
    await client.call("m0", "SYS_PING", { data: new Uint8Array(1) });
    assert.equal(charged, 0);
    const model: ModelCall = { atNs: 0 };
    await client.call("m0", "SYS_PING", { data: new Uint8Array(1) }, { model });
    assert.equal(model.serviceNs, 500); // the same request in model time is charged
  } finally {
    await client.close();
    await server.close();
    await transport.close();
  }
});
