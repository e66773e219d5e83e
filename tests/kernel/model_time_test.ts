import assert from "node:assert/strict";
import fc from "fast-check";
import { BusyResource } from "../../kernel/model_resource.ts";
import {
  chargeModel,
  currentSpan,
  inParallel,
  ModelSpan,
  occupy,
  withoutSpan,
  withSpan,
} from "../../kernel/model_time.ts";
import { createMemoryTransport } from "../../transports/memory.ts";
import { RpcNode } from "../../kernel/rpc.ts";
import type { ModelCall } from "../../kernel/rpc.ts";
import { createStockRegistry } from "../../plugins/stock.ts";
import type { LatencyModel } from "../../kernel/latency.ts";

Deno.test("BusyResource: one server serializes, k servers overlap, late arrivals fill gaps", () => {
  const one = new BusyResource("one");
  assert.deepEqual([0, 0, 0].map(() => one.reserve(0, 10)), [0, 10, 20]);
  const two = new BusyResource("two", 2);
  assert.deepEqual([0, 0, 0, 0].map(() => two.reserve(0, 10)), [0, 0, 10, 10]);
  const gaps = new BusyResource("gaps");
  assert.equal(gaps.reserve(100, 10), 100);
  assert.equal(gaps.reserve(0, 10), 0); // earlier in model time, later in wall time
  assert.equal(gaps.reserve(95, 10), 110); // does not fit before 100
  assert.deepEqual(gaps.stats(), { reservations: 3, busyNs: 30, waitedNs: 15 });
  assert.throws(() => gaps.reserve(-1, 1), /finite times/);
  assert.throws(() => new BusyResource("x", 0), /servers/);
});

Deno.test("BusyResource never overlaps two reservations on one server", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(1000), fc.integer({ min: 1, max: 50 })), { maxLength: 60 }),
      (requests) => {
        const r = new BusyResource("r");
        const taken: [number, number][] = [];
        for (const [at, busy] of requests) {
          const start = r.reserve(at, busy);
          if (start < at) return false;
          for (const [s, e] of taken) if (start < e && s < start + busy) return false;
          taken.push([start, start + busy]);
        }
        return true;
      },
    ),
  );
});

Deno.test("a span follows its handler across awaits; withoutSpan and no span charge nobody", async () => {
  const span = new ModelSpan(1000);
  await withSpan(span, async () => {
    chargeModel(10, "service");
    await new Promise((r) => setTimeout(r, 1));
    chargeModel(20, "device");
    withoutSpan(() => chargeModel(1e6, "service"));
    assert.equal(currentSpan(), span);
  });
  chargeModel(5, "service");
  assert.equal(span.elapsedNs, 30);
  assert.equal(span.nowNs(), 1030);
  assert.deepEqual(span.parts, { service: 10, device: 20, network: 0, queue: 0 });
});

Deno.test("occupy charges the wait as queueing and the latency as its kind", () => {
  const cpu = new BusyResource("cpu");
  const a = new ModelSpan(0);
  const b = new ModelSpan(1);
  withSpan(a, () => occupy(cpu, 50, "service", 20));
  withSpan(b, () => occupy(cpu, 50, "service", 20));
  assert.equal(a.elapsedNs, 20);
  assert.equal(b.queueNs, 49);
  assert.equal(b.elapsedNs, 69);
});

Deno.test("inParallel charges the slowest branch, not the sum", async () => {
  const span = new ModelSpan(0);
  await withSpan(span, () =>
    inParallel([30, 70, 50].map((ns) => async () => {
      await Promise.resolve();
      chargeModel(ns, "device");
    })));
  assert.equal(span.elapsedNs, 70);
  assert.equal(span.parts.device, 70);
});

Deno.test("RPC: the reply carries the callee's service time, and a callee's further call adds its round trip", async () => {
  const latency = await createStockRegistry().create<LatencyModel>(
    "latency-model",
    "legoos-ib",
    {},
    {},
  );
  const transport = createMemoryTransport();
  const back = new RpcNode(await transport.attach("s0")).handle({
    SYS_PING: ({ data }) => {
      chargeModel(1000, "device");
      return { data };
    },
  });
  const middle = new RpcNode(await transport.attach("m0")).chargeWith(latency).handle({
    SYS_PING: async ({ data }, ctx) => {
      assert.equal(ctx.model.startNs, 5000);
      ctx.model.charge(200, "service");
      await middle.call("s0", "SYS_PING", { data });
      return { data };
    },
  });
  const front = new RpcNode(await transport.attach("p0"));
  try {
    const model: ModelCall = { atNs: 5000 };
    await front.call("m0", "SYS_PING", { data: new Uint8Array(8) }, { model });
    // ping body: 4-byte length + 8 bytes, each way.
    assert.equal(model.serviceNs, 200 + latency.messageNs(24) + 1000);
    assert.equal(model.queueNs, 0);
  } finally {
    await front.close();
    await middle.close();
    await back.close();
    await transport.close();
  }
});

Deno.test("ModelScheduler serves the earliest event once every running thread has arrived; joins park", async () => {
  const { ModelScheduler } = await import("../../kernel/model_scheduler.ts");
  const s = new ModelScheduler(3);
  const a = s.enter("a");
  const b = s.enter("b");
  const order: string[] = [];
  const note = (event: string) => () => void order.push(event);
  // a arrives first (wall order) at a later model time: it must wait for b's earlier event.
  const pa = a.arrive(500).then(note("a@500"));
  await Promise.resolve();
  assert.deepEqual(order, []);
  const pb = b.arrive(100).then(note("b@100"));
  await pb;
  assert.deepEqual(order, ["b@100"]);
  // b's event is a join on a: b parks, so a (still waiting) is served next.
  b.parkUntilLeft(a);
  await pa;
  assert.deepEqual(order, ["b@100", "a@500"]);
  a.done();
  a.leave(); // b runs again at once
  const pb2 = b.arrive(600).then(note("b@600"));
  await pb2;
  b.done();
  b.leave();
  assert.equal(s.events, 3);
  assert.throws(() => new ModelScheduler(-1), /seed/);
});
