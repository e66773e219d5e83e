/**
 * Deterministic mode across OS processes, in pieces: the manager's {@link SchedulerHost}
 * applies each processor's operations in their numbers' order whatever order they arrive
 * in, lets the others go on when a processor is declared down, and {@link RemoteScheduler}
 * drives it over RPC, failing its waiting threads with `EIO` when the manager is gone.
 */

import assert from "node:assert/strict";
import type { KernelError } from "../../kernel/errors.ts";
import { ModelScheduler } from "../../kernel/model_scheduler.ts";
import { RemoteScheduler } from "../../kernel/remote_scheduler.ts";
import { RpcNode } from "../../kernel/rpc.ts";
import { MAX_BUFFERED_OPS, SchedulerHost } from "../../monitors/manager/scheduler_host.ts";
import { createMemoryTransport } from "../../transports/memory.ts";
import { within } from "../within.ts";
import { startCluster } from "../../mod.ts";

const demo = new URL("../../examples/workloads/demo.ts", import.meta.url).href;

/** One processor's operations, numbered as its RemoteScheduler numbers them. */
type Op = { seq: number; op: "enter" | "done" | "leave" | "arrive"; name: string; atNs?: number };

/** Two threads of p0, each with two events; numbered in the order p0 made them. */
function script(): Op[] {
  const ops: Omit<Op, "seq">[] = [
    { op: "enter", name: "p0/1/0" },
    { op: "enter", name: "p0/1/1" },
    { op: "arrive", name: "p0/1/0", atNs: 300 },
    { op: "arrive", name: "p0/1/1", atNs: 100 },
    // p0/1/1 is served first (earlier), then p0/1/0; each event then ends.
    { op: "done", name: "p0/1/1" },
    { op: "arrive", name: "p0/1/1", atNs: 500 },
    { op: "done", name: "p0/1/0" },
    { op: "leave", name: "p0/1/0" },
    { op: "done", name: "p0/1/1" },
    { op: "leave", name: "p0/1/1" },
  ];
  return ops.map((o, seq) => ({ ...o, seq }));
}

/**
 * Feeds `ops` to a host in `order` (indices), the way they would arrive off the wire, and
 * returns the order in which arrivals were granted. A "done" is only sent once its thread
 * was granted (as a processor does), so arrivals are delivered as they come.
 */
async function feed(order: number[]): Promise<string[]> {
  const host = new SchedulerHost(new ModelScheduler(3), (line) => {
    throw new Error(`unexpected log: ${line}`);
  });
  const ops = script();
  const granted: string[] = [];
  const turns: Promise<void>[] = [];
  for (const i of order) {
    const o = ops[i];
    if (o.op === "arrive") {
      turns.push(
        host.arrive("p0", 9, o.seq, o.name, o.atNs ?? 0).then(() => {
          granted.push(`${o.name}@${o.atNs}`);
        }),
      );
    } else host.op("p0", 9, o.seq, o.op, o.name, "");
  }
  await within(Promise.all(turns), 2000, "every arrival granted");
  assert.equal(host.threadsOf("p0"), 0);
  const stats = host.stats();
  assert.equal(stats.operations, ops.length);
  assert.equal(stats.events, 3);
  return granted;
}

Deno.test("scheduler host: operations apply in their numbers' order, whatever order they arrive in", async () => {
  const inOrder = await feed([...script().keys()]);
  assert.deepEqual(inOrder, ["p0/1/1@100", "p0/1/0@300", "p0/1/1@500"]);
  assert.deepEqual(await feed([...script().keys()].reverse()), inOrder);
  assert.deepEqual(await feed([3, 9, 1, 7, 5, 0, 8, 2, 6, 4]), inOrder);
});

Deno.test("scheduler host: a thread entered during an event counts before that event's done, even when the done arrives first", async () => {
  const host = new SchedulerHost(new ModelScheduler(2), () => {});
  const order: string[] = [];
  const turn = (seq: number, name: string, atNs: number) =>
    host.arrive("p0", 1, seq, name, atNs).then(() => order.push(`${name}@${atNs}`));
  host.op("p0", 1, 0, "enter", "p0/1/0", "");
  await within(turn(1, "p0/1/0", 100), 1000, "the first turn");
  // Serving that event, p0 starts thread 1 (enter: 2), ends the event (done: 3); thread 0
  // arrives again (4), thread 1 arrives (5). The wire delivers them backwards.
  const later = [turn(5, "p0/1/1", 150), turn(4, "p0/1/0", 200)];
  host.op("p0", 1, 3, "done", "p0/1/0", "");
  assert.equal(host.stats().early, 3, "5, 4 and 3 wait for 2");
  host.op("p0", 1, 2, "enter", "p0/1/1", "");
  await within(later[0], 1000, "thread 1's turn");
  assert.deepEqual(order, ["p0/1/0@100", "p0/1/1@150"], "thread 0 waited for thread 1");
});

Deno.test("scheduler host: a repeated, unknown or far-ahead operation is refused or logged, and what follows still applies", async () => {
  const logs: string[] = [];
  const host = new SchedulerHost(new ModelScheduler(1), (line) => logs.push(line));
  host.op("p0", 1, 0, "enter", "p0/1/0", "");
  assert.throws(() => host.op("p0", 1, 0, "enter", "p0/1/0", ""), /number 0 twice/);
  assert.throws(
    () => host.op("p0", 1, MAX_BUFFERED_OPS + 1, "done", "p0/1/0", ""),
    /at most 65536 may wait/,
  );
  host.op("p0", 1, 1, "jump", "p0/1/0", ""); // unknown: logged, takes its number
  assert.match(logs.join("\n"), /unknown operation "jump" from p0 \(number 1\)/);
  host.op("p0", 1, 2, "park", "p0/1/0", ""); // park on nobody: same
  assert.match(logs.join("\n"), /park of p0\/1\/0 names no thread/);
  await assert.rejects(host.arrive("p0", 1, 3, "p0/1/0", NaN), /not a time/);
  await within(host.arrive("p0", 1, 3, "p0/1/0", 10), 1000, "the turn after bad operations");
  await assert.rejects(host.arrive("p0", 1, 4, "p0/9/9", 10), /never entered/);
});

Deno.test("scheduler host: a processor declared down leaves the schedule, so the others' waiting threads go on", async () => {
  const logs: string[] = [];
  const host = new SchedulerHost(new ModelScheduler(1), (line) => logs.push(line));
  const ping = host.handlers().MGR_SCHED_PING;
  host.op("p0", 1, 0, "enter", "p0/1/0", "");
  host.op("p1", 2, 0, "enter", "p1/1/0", "");
  host.op("p1", 2, 1, "enter", "p1/1/1", "");
  // p1/1/0 waits too (it will be failed); p1/1/1 runs and will never arrive: p1 died.
  const p1Waiting = host.arrive("p1", 2, 2, "p1/1/0", 5);
  let granted = false;
  const p0Turn = host.arrive("p0", 1, 1, "p0/1/0", 100).then(() => granted = true);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(granted, false, "p0 waits for p1's running thread");
  host.down("p1");
  await within(p0Turn, 1000, "p0's turn once p1 is down");
  await assert.rejects(
    p1Waiting,
    (e: KernelError) => e.code === "EIO" && /declared p1 down/.test(e.message),
  );
  await assert.rejects(host.arrive("p1", 2, 3, "p1/1/1", 7), /declared p1 down/);
  assert.throws(() => ping({ session: 2 }, { from: "p1" } as never), /declared p1 down/);
  assert.deepEqual(ping({ session: 1 }, { from: "p0" } as never), { next: 2 });
  assert.match(logs.join("\n"), /2 thread\(s\) of p1 left the schedule/);
  // p1 restarts: a new session starts clean.
  host.op("p1", 3, 0, "enter", "p1/1/0", "");
  host.op("p0", 1, 2, "done", "p0/1/0", "");
  host.op("p0", 1, 3, "leave", "p0/1/0", "");
  await within(host.arrive("p1", 3, 1, "p1/1/0", 1), 1000, "the restarted processor's turn");
  assert.equal(host.stats().sessions, 3);
});

Deno.test("remote scheduler: threads of two processors are served in model-time order at the manager", async () => {
  const transport = createMemoryTransport();
  const gm = new RpcNode(await transport.attach("gm"));
  const host = new SchedulerHost(new ModelScheduler(4), () => {});
  gm.handle(host.handlers());
  const p0 = new RpcNode(await transport.attach("p0"));
  const p1 = new RpcNode(await transport.attach("p1"));
  try {
    const a = new RemoteScheduler(4, p0, "gm").enter("p0/1/0");
    const b = new RemoteScheduler(4, p1, "gm").enter("p1/1/0");
    const order: string[] = [];
    // Each thread runs its events in turn, as a processor's thread does.
    const run = async (t: typeof a, times: number[]) => {
      for (const atNs of times) {
        await t.arrive(atNs);
        order.push(`${t.name}@${atNs}`);
        t.done();
      }
      t.leave();
    };
    await within(Promise.all([run(a, [300, 400]), run(b, [200, 600])]), 2000, "every turn");
    assert.deepEqual(order, ["p1/1/0@200", "p0/1/0@300", "p0/1/0@400", "p1/1/0@600"]);
    assert.equal(host.scheduler.events, 4);
  } finally {
    for (const node of [p0, p1, gm]) await node.close();
    await transport.close();
  }
});

Deno.test("remote scheduler: when the manager is gone, waiting threads fail with EIO naming why", async () => {
  const transport = createMemoryTransport();
  const gm = new RpcNode(await transport.attach("gm"));
  const host = new SchedulerHost(new ModelScheduler(4), () => {});
  gm.handle(host.handlers());
  const p0 = new RpcNode(await transport.attach("p0"));
  try {
    const scheduler = new RemoteScheduler(4, p0, "gm", { pingMs: 20, pingTimeoutMs: 200 });
    const a = scheduler.enter("p0/1/0");
    scheduler.enter("p0/1/1"); // runs and never arrives: a must wait
    const waiting = a.arrive(10);
    await new Promise((r) => setTimeout(r, 60));
    await gm.close(); // the manager goes away
    await within(
      assert.rejects(waiting, (e: KernelError) => {
        assert.equal(e.code, "EIO");
        assert.match(e.message, /deterministic mode lost its schedule: .*gm/);
        return true;
      }),
      5000,
      "the waiting thread's error",
    );
    await assert.rejects(a.arrive(20), /lost its schedule/);
    assert.ok(scheduler.broken);
  } finally {
    await p0.close();
    await transport.close();
  }
});

Deno.test("manager: a processor whose heartbeats stop is declared down and its threads leave the schedule, so the others' run ends", async () => {
  const cluster = await startCluster({
    seed: 5,
    components: [
      { id: "gm", role: "manager", options: { heartbeatMs: 40, missedHeartbeats: 2 } },
      { id: "p0", role: "processor", options: { cacheBytes: 64 * 1024 } },
      { id: "m0", role: "memory" },
      { id: "s0", role: "storage" },
    ],
  }, { log: () => {} });
  // p9: a processor in "another process" that joins, enters two threads and then dies
  // (no more heartbeats): one thread runs (everyone waits for it), one waits for its turn.
  const p9 = new RpcNode(await cluster.transport.attach("p9"));
  try {
    await p9.call("gm", "MGR_JOIN", { role: "processor", capacity: {}, addresses: {} });
    const remote = new RemoteScheduler(5, p9, "gm", { pingMs: 20 });
    remote.enter("p9/1/0");
    const waiting = remote.enter("p9/1/1").arrive(0).then(() => "granted", (e: KernelError) => e);
    const run = cluster.run(demo, ["1", "2"]);
    const result = await within(run, 20_000, "p0's run once p9 is declared down");
    assert.equal(result.exitCode, 0, result.error);
    assert.equal(result.stats["model.seed"], 5);
    const error = await within(waiting, 5_000, "p9's waiting thread");
    assert.ok(error instanceof Error, `p9's waiting thread was ${error}`);
    assert.equal((error as KernelError).code, "EIO");
    assert.match(error.message, /left the schedule: the manager declared p9 down/);
    const stats = cluster.manager.stats() as { downs: number; scheduler: { threads: number } };
    assert.equal(stats.downs, 1);
    assert.equal(stats.scheduler.threads, 0);
  } finally {
    await p9.close();
    await cluster.stop();
  }
});

Deno.test("remote scheduler: a lost one-way operation is noticed by the pings, and waiting threads fail with EIO", async () => {
  const transport = createMemoryTransport();
  const gm = new RpcNode(await transport.attach("gm"));
  const host = new SchedulerHost(new ModelScheduler(4), () => {});
  const handlers = host.handlers();
  gm.handle({
    ...handlers,
    // The network loses operation 1.
    MGR_SCHED_OP: (body, call) => body.seq === 1 ? {} : handlers.MGR_SCHED_OP(body, call),
  });
  const p0 = new RpcNode(await transport.attach("p0"));
  try {
    const scheduler = new RemoteScheduler(4, p0, "gm", { pingMs: 20 });
    const a = scheduler.enter("p0/1/0");
    scheduler.enter("p0/1/1"); // lost
    const error = await within(
      a.arrive(10).then(() => "granted", (e: KernelError) => e),
      5000,
      "the waiting thread",
    );
    assert.ok(error instanceof Error, `the thread was ${error}`);
    assert.equal((error as KernelError).code, "EIO");
    assert.match(error.message, /operation 1 never reached gm/);
  } finally {
    await p0.close();
    await gm.close();
    await transport.close();
  }
});
