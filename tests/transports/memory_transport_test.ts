import assert from "node:assert/strict";
import { encode } from "../../kernel/codec.ts";
import { KernelError } from "../../kernel/errors.ts";
import { RpcNode } from "../../kernel/rpc.ts";
import { createMemoryTransport } from "../../transports/memory.ts";
import { runTransportContract } from "./transport_contract.ts";

runTransportContract("memory", () => createMemoryTransport());

Deno.test("memory transport: send() hands over the frame itself, without a copy", async () => {
  const transport = createMemoryTransport();
  try {
    const a = await transport.attach("a");
    const b = await transport.attach("b");
    const frame = encode({
      kind: "SYS_PING",
      requestId: 1,
      src: "a",
      dst: "b",
      flags: 0,
      body: { data: new Uint8Array([1]) },
    });
    await a.send("b", frame);
    assert.equal((await b.receiveQueue.take())?.bytes, frame);
    assert.equal(a.stats().framesSent, 1);
    assert.equal(a.stats().bytesSent, frame.length);
    assert.equal(b.stats().framesReceived, 1);
  } finally {
    await transport.close();
  }
});

Deno.test("memory transport: attach() honours receiveQueueFrames and re-attaches a closed id", async () => {
  const transport = createMemoryTransport({ receiveQueueFrames: 3 });
  try {
    const a = await transport.attach("a");
    assert.equal(a.receiveQueue.capacity, 3);
    assert.equal((await transport.attach("b", { receiveQueueFrames: 9 })).receiveQueue.capacity, 9);
    await a.close();
    const again = await transport.attach("a");
    await a.close(); // The old endpoint's close must not detach the new one.
    await (await transport.attach("c")).send(
      "a",
      encode({
        kind: "SYS_PING",
        requestId: 1,
        src: "c",
        dst: "a",
        flags: 0,
        body: { data: new Uint8Array() },
      }),
    );
    assert.equal((await again.receiveQueue.take())?.from, "c");
  } finally {
    await transport.close();
  }
});

Deno.test("memory transport: a closed transport refuses attach()", async () => {
  const transport = createMemoryTransport();
  await transport.close();
  await assert.rejects(
    transport.attach("a"),
    (e) => e instanceof KernelError && e.code === "ESHUTDOWN",
  );
});

Deno.test("memory transport: deregisterRegion() of an unknown region throws EINVAL", async () => {
  const transport = createMemoryTransport();
  try {
    const a = await transport.attach("a");
    const region = a.registerRegion(new Uint8Array(4), { remoteRead: true, remoteWrite: true });
    a.deregisterRegion(region);
    assert.throws(
      () => a.deregisterRegion(region),
      (e) => e instanceof KernelError && e.code === "EINVAL",
    );
  } finally {
    await transport.close();
  }
});

Deno.test("memory transport: a sender waiting for queue space fails when the receiver detaches", async () => {
  const transport = createMemoryTransport({ receiveQueueFrames: 1 });
  try {
    const a = await transport.attach("a");
    const b = await transport.attach("b");
    const frame = () =>
      encode({
        kind: "SYS_PING",
        requestId: 1,
        src: "a",
        dst: "b",
        flags: 0,
        body: { data: new Uint8Array() },
      });
    await a.send("b", frame());
    const waiting = a.send("b", frame());
    await b.close();
    await assert.rejects(waiting, (e) => e instanceof KernelError && e.code === "EHOSTUNREACH");
  } finally {
    await transport.close();
  }
});

Deno.test("memory transport: a request to a waiting RpcNode is served inside the send, a request made by a handler that was handed over is queued", async () => {
  const transport = createMemoryTransport();
  const a = new RpcNode(await transport.attach("a"));
  const b = new RpcNode(await transport.attach("b"));
  try {
    let inHandlerOfB = false;
    let aServedInsideB: boolean | undefined;
    a.handle({
      SYS_PING: ({ data }) => {
        aServedInsideB = inHandlerOfB;
        return { data };
      },
    });
    let served = 0;
    let bCall: Promise<unknown> | undefined;
    b.handle({
      SYS_PING: ({ data }) => {
        served++;
        inHandlerOfB = true;
        bCall = b.call("a", "SYS_PING", { data }); // from inside a handed-over request
        inHandlerOfB = false;
        return { data };
      },
    });
    await Promise.resolve(); // both nodes wait on their empty queues
    const reply = a.call("b", "SYS_PING", { data: new Uint8Array([5]) });
    assert.equal(served, 1, "b's handler should have run inside a's send");
    assert.equal(aServedInsideB, undefined, "a's handler must not run inside b's");
    assert.deepEqual((await reply as { data: Uint8Array }).data, new Uint8Array([5]));
    await bCall;
    assert.equal(aServedInsideB, false);
  } finally {
    await a.close();
    await b.close();
    await transport.close();
  }
});
