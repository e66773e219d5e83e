import assert from "node:assert/strict";
import { KernelError } from "../../kernel/errors.ts";
import { type ClusterEvent, EventBus } from "../../kernel/events.ts";
import { DEFAULT_NS_BUCKETS, MetricsRegistry } from "../../kernel/metrics.ts";

Deno.test("EventBus numbers events and keeps the newest in a ring buffer", () => {
  let now = 1000;
  const bus = new EventBus({ capacity: 3, now: () => now++ });
  for (let pid = 1; pid <= 5; pid++) bus.emit("process.start", { data: { pid } });
  assert.equal(bus.lastSeq, 5);
  const kept = bus.recent();
  assert.deepEqual(kept.map((e) => e.seq), [3, 4, 5]);
  assert.deepEqual(kept[0], { type: "process.start", at: 1002, data: { pid: 3 }, seq: 3 });
  assert.ok(Object.isFrozen(kept[0]));
  assert.deepEqual(bus.recent({ afterSeq: 3 }).map((e) => e.seq), [4, 5]);
  assert.deepEqual(bus.recent({ limit: 2 }).map((e) => e.seq), [4, 5]);
  assert.deepEqual(bus.recent({ afterSeq: 2, limit: 1 }).map((e) => e.seq), [3]);
  assert.deepEqual(new EventBus().recent(), []);
  assert.equal(new EventBus().capacity, 1000);
  assert.throws(() => new EventBus({ capacity: 0 }), KernelError);
});

Deno.test("EventBus.recent() and subscribe() filter by type and component", () => {
  const bus = new EventBus();
  const byType: string[] = [];
  const byComponent: ClusterEvent[] = [];
  const byPredicate: number[] = [];
  bus.subscribe((e) => byType.push(e.type), { type: ["component.up", "component.down"] });
  bus.subscribe((e) => byComponent.push(e), { component: "m1" });
  const stop = bus.subscribe((e) => byPredicate.push(e.seq), (e) => e.seq % 2 === 0);
  bus.emit("component.up", { component: "m0" });
  bus.emit("component.up", { component: "m1" });
  bus.emit("placement", { component: "m1", data: { vregion: 0 } });
  stop();
  stop(); // harmless twice
  bus.emit("component.down", { component: "m0" });
  assert.deepEqual(byType, ["component.up", "component.up", "component.down"]);
  assert.deepEqual(byComponent.map((e) => e.seq), [2, 3]);
  assert.deepEqual(byPredicate, [2]);
  assert.deepEqual(bus.recent({ type: "component.up" }).map((e) => e.component), ["m0", "m1"]);
});

Deno.test("a throwing listener breaks neither emit nor the other listeners", () => {
  const reported: unknown[] = [];
  const bus = new EventBus({ onListenerError: (error) => reported.push(error) });
  const seen: number[] = [];
  bus.subscribe(() => {
    throw new Error("listener bug");
  });
  bus.subscribe((e) => seen.push(e.seq));
  const event = bus.emit("fault", { component: "m0" });
  assert.equal(event.seq, 1);
  bus.emit("fault");
  assert.deepEqual(seen, [1, 2]);
  assert.equal(reported.length, 2);
  assert.equal((reported[0] as Error).message, "listener bug");
  // Even a failing error reporter is contained.
  const fragile = new EventBus({
    onListenerError: () => {
      throw new Error("reporter bug");
    },
  });
  fragile.subscribe(() => {
    throw new Error("x");
  });
  assert.equal(fragile.emit("cluster.start").seq, 1);
});

Deno.test("toPrometheus() renders a counter exactly", () => {
  const metrics = new MetricsRegistry();
  metrics.counter("rpc_calls_total", "RPC calls sent", { component: "p0", kind: "P2M_FETCH" })
    .inc();
  metrics.counter("rpc_calls_total", "RPC calls sent", { kind: "P2M_FETCH", component: "p0" })
    .inc(2);
  metrics.counter("rpc_calls_total", "RPC calls sent", { component: 'we"ird\\\n', kind: "X" })
    .inc();
  assert.equal(
    metrics.toPrometheus(),
    [
      "# HELP rpc_calls_total RPC calls sent",
      "# TYPE rpc_calls_total counter",
      'rpc_calls_total{component="p0",kind="P2M_FETCH"} 3',
      'rpc_calls_total{component="we\\"ird\\\\\\n",kind="X"} 1',
      "",
    ].join("\n"),
  );
});

Deno.test("toPrometheus() renders a histogram exactly", () => {
  const metrics = new MetricsRegistry();
  const h = metrics.histogram("fetch_ns", "Page fetch latency\nin ns", {
    buckets: [1000, 5000],
  }, { component: "p0" });
  for (const v of [500, 1000, 4000, 9000]) h.observe(v);
  metrics.gauge("free_frames", "Free frames").set(7);
  assert.equal(h.count, 4);
  assert.equal(h.sum, 14500);
  assert.deepEqual(h.buckets, [{ le: 1000, count: 2 }, { le: 5000, count: 3 }]);
  assert.equal(
    metrics.toPrometheus(),
    [
      "# HELP fetch_ns Page fetch latency\\nin ns",
      "# TYPE fetch_ns histogram",
      'fetch_ns_bucket{component="p0",le="1000"} 2',
      'fetch_ns_bucket{component="p0",le="5000"} 3',
      'fetch_ns_bucket{component="p0",le="+Inf"} 4',
      'fetch_ns_sum{component="p0"} 14500',
      'fetch_ns_count{component="p0"} 4',
      "# HELP free_frames Free frames",
      "# TYPE free_frames gauge",
      "free_frames 7",
      "",
    ].join("\n"),
  );
});

Deno.test("snapshot() is plain JSON of every series", () => {
  const metrics = new MetricsRegistry();
  const g = metrics.gauge("threads", "Threads", { component: "p0" });
  g.inc(3);
  g.dec();
  metrics.histogram("io_ns", "I/O", { buckets: [10] }).observe(20);
  const snapshot = metrics.snapshot();
  assert.deepEqual(JSON.parse(JSON.stringify(snapshot)), snapshot);
  assert.deepEqual(snapshot, [
    {
      name: "threads",
      type: "gauge",
      help: "Threads",
      series: [{ labels: { component: "p0" }, value: 2 }],
    },
    {
      name: "io_ns",
      type: "histogram",
      help: "I/O",
      series: [{ labels: {}, count: 1, sum: 20, buckets: [{ le: 10, count: 0 }] }],
    },
  ]);
});

Deno.test("metric names, label names and types are checked", () => {
  const metrics = new MetricsRegistry();
  const c = metrics.counter("hits_total", "Hits");
  assert.equal(metrics.counter("hits_total", "Hits"), c, "same name and labels, same counter");
  for (const bad of ["", "9lives", "has-dash", "has space", "é"]) {
    assert.throws(() => metrics.counter(bad, "x"), KernelError, bad);
  }
  metrics.counter("ns:total_ok", "colons are allowed");
  assert.throws(() => metrics.gauge("hits_total", "Hits"), /already a counter/);
  assert.throws(() => metrics.counter("a_total", "x", { "bad-label": "v" }), /bad label name/);
  assert.throws(() => metrics.counter("b_total", "x", { __reserved: "v" }), /bad label name/);
  assert.throws(() => metrics.histogram("h", "x", {}, { le: "1" }), /reserved/);
  assert.throws(() => c.inc(-1), /only go up/);
  assert.throws(() => metrics.histogram("h2", "x", { buckets: [5, 1] }), /increasing/);
  metrics.histogram("h3", "x", { buckets: [1, 2] });
  assert.throws(() => metrics.histogram("h3", "x", { buckets: [1, 3] }), /already has buckets/);
  assert.equal(DEFAULT_NS_BUCKETS[0], 100);
  assert.equal(DEFAULT_NS_BUCKETS.at(-1), 1e8);
  assert.equal(DEFAULT_NS_BUCKETS.length, 19);
});
