import assert from "node:assert/strict";
import { KernelError, RemoteError } from "../../../kernel/errors.ts";
import type { ClusterEvent, EventBus } from "../../../kernel/events.ts";
import type { Role } from "../../../kernel/ids.ts";
import type { StockManager } from "../../../monitors/manager/mod.ts";
import { joinCluster, type Membership } from "../../../kernel/membership.ts";
import { handWired } from "../../hand_wired.ts";

const HEARTBEAT_MS = 20;
const MISSED = 5;

/**
 * The stock manager, two real storage components, and scripted processors and memory
 * components: each joins and heartbeats through `joinCluster` with a load we control.
 */
async function rig(managerOptions: Record<string, unknown> = {}) {
  const wired = await handWired({ timeoutMs: 1000 });
  await wired.boot("gm", "manager-monitor", "manager", {
    heartbeatMs: HEARTBEAT_MS,
    missedHeartbeats: MISSED,
    ...managerOptions,
  });
  await wired.boot("s0", "storage-monitor", "storage");
  await wired.boot("s1", "storage-monitor", "storage");
  const loads: Record<string, Record<string, number>> = {};
  const memberships = new Map<string, Membership>();
  const fake = async (id: string, role: Role, capacity: Record<string, unknown>) => {
    loads[id] = {};
    memberships.set(
      id,
      await joinCluster(await wired.context(id, role), capacity, () => loads[id]),
    );
  };
  for (const id of ["p0", "p1"]) await fake(id, "processor", { cacheBytes: 1 << 20 });
  for (const id of ["m0", "m1", "m2"]) await fake(id, "memory", { dramBytes: 64 << 20 });
  const manager = wired.monitor<StockManager>("gm");
  return {
    manager,
    events: wired.events,
    loads,
    memberships,
    /** The RPC node of component `id`. */
    rpc: (id: string) => wired.rpc(id),
    /** The monitor of component `id`. */
    monitor: (id: string) => wired.monitor(id),
    /** Waits until every scripted component's latest load reached the manager. */
    async heartbeatsArrived() {
      await waitFor(() =>
        Object.entries(loads).every(([id, load]) =>
          JSON.stringify(manager.state.components.get(id)?.load) === JSON.stringify(load)
        )
      );
    },
    async close() {
      for (const m of memberships.values()) m.leave();
      await wired.close();
    },
  };
}

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > timeoutMs) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function down(events: EventBus, id: string): ClusterEvent | undefined {
  return events.recent({ type: "component.down" }).find((e) => e.component === id);
}

Deno.test("GPM places each new process on the processor running the fewest threads", async () => {
  const r = await rig();
  try {
    const placed = [];
    for (const threads of [2, 1, 1, 1]) {
      placed.push((await r.manager.placeProcess(threads)).processor);
    }
    // p0 2 threads, then p1 (0 < 2), p1 again (1 < 2), then p0 on the 2-2 tie (lower id).
    assert.deepEqual(placed, ["p0", "p1", "p1", "p0"]);
    // A heartbeat reporting more threads than were placed (the process started some) counts.
    r.loads.p1 = { threads: 9 };
    await r.heartbeatsArrived();
    assert.equal((await r.manager.placeProcess(1)).processor, "p0");
    // Over RPC, as a component would ask.
    const viaRpc = await r.rpc("p0").call("gm", "MGR_PLACE_PROCESS", { threads: 1 });
    assert.equal(viaRpc.processor, "p0");
    assert.equal(viaRpc.pid, 6);
    await assert.rejects(r.manager.placeProcess(0), /threads must be an integer >= 1/);
  } finally {
    await r.close();
  }
});

Deno.test("GMM round-robin hands out vRegions in turn and keeps each where it was placed", async () => {
  const r = await rig({ vregionPlacement: "round-robin" });
  try {
    const owners = [];
    for (let v = 0; v < 6; v++) owners.push(r.manager.placeVregion(100, v));
    assert.deepEqual(owners, ["m0", "m1", "m2", "m0", "m1", "m2"]);
    assert.equal(r.manager.placeVregion(100, 4), "m1", "a placed vRegion stays put");
    const { owner } = await r.rpc("m0").call("gm", "MGR_PLACE_VREGION", {
      pid: 100,
      vregion: 2,
      touch: false,
    });
    assert.equal(owner, "m2");
  } finally {
    await r.close();
  }
});

Deno.test("GMM fewest-requests follows the requests each memory component reports", async () => {
  const r = await rig({ vregionPlacement: "fewest-requests" });
  try {
    Object.assign(r.loads, { m0: { requests: 500 }, m1: { requests: 100 }, m2: { requests: 300 } });
    await r.heartbeatsArrived();
    assert.equal(r.manager.placeVregion(1, 0), "m1");
    assert.equal(r.manager.placeVregion(1, 1), "m1", "same figures, same answer");
    Object.assign(r.loads, { m1: { requests: 900 } });
    await r.heartbeatsArrived();
    assert.equal(r.manager.placeVregion(1, 2), "m2");
    assert.equal((await r.manager.placeProcess(1)).home, "m2", "homes follow the same figures");
  } finally {
    await r.close();
  }
});

Deno.test("GMM most-free-memory picks the memory component with the most free frames", async () => {
  const r = await rig({ vregionPlacement: "most-free-memory" });
  try {
    // Before any heartbeat: estimated from dramBytes, all equal; tie-break fewest vRegions.
    assert.deepEqual([0, 1, 2].map((v) => r.manager.placeVregion(7, v)), ["m0", "m1", "m2"]);
    Object.assign(r.loads, {
      m0: { framesUsed: 90, framesFree: 10 },
      m1: { framesUsed: 50, framesFree: 50 },
      m2: { framesUsed: 70, framesFree: 30 },
    });
    await r.heartbeatsArrived();
    assert.equal(r.manager.placeVregion(8, 0), "m1");
    Object.assign(r.loads, { m1: { framesUsed: 95, framesFree: 5 } });
    await r.heartbeatsArrived();
    assert.equal(r.manager.placeVregion(8, 1), "m2");
  } finally {
    await r.close();
  }
});

Deno.test("GSM spreads new files over the storage components and remembers where each went", async () => {
  const r = await rig();
  try {
    const where = ["a", "b", "c", "d"].map((f) => r.manager.placeFile(f));
    assert.deepEqual(where, ["s0", "s1", "s0", "s1"]);
    assert.equal(r.manager.placeFile("b"), "s1");
    await r.manager.setPolicy("file-placement", "path-hash");
    const hashed = r.manager.placeFile("e");
    assert.ok(hashed === "s0" || hashed === "s1");
    assert.equal(r.manager.snapshot().policies["file-placement"], "path-hash");
  } finally {
    await r.close();
  }
});

Deno.test("a component that stops heartbeating is marked down and gets no new placement", async () => {
  const r = await rig({ vregionPlacement: "most-free-memory" });
  try {
    // m1 has by far the most free memory, then falls silent.
    Object.assign(r.loads, {
      m0: { framesFree: 10 },
      m1: { framesFree: 10_000 },
      m2: { framesFree: 20 },
      p0: { threads: 0 },
      p1: { threads: 0 },
    });
    await r.heartbeatsArrived();
    assert.equal(r.manager.placeVregion(1, 0), "m1");
    r.memberships.get("m1")!.leave();
    // p0 stops entirely (its endpoint closes), s1 too (the real storage monitor).
    r.memberships.get("p0")!.leave();
    await r.rpc("p0").close();
    await r.monitor("s1").stop();
    await r.rpc("s1").close();
    await waitFor(() => ["m1", "p0", "s1"].every((id) => down(r.events, id)));

    const event = down(r.events, "m1")!;
    assert.equal(event.data?.role, "memory");
    assert.ok((event.data?.missedHeartbeats as number) >= MISSED);
    const snapshot = r.manager.snapshot();
    const state = Object.fromEntries(snapshot.components.map((c) => [c.id, c.state]));
    assert.deepEqual(state, {
      gm: "up",
      m0: "up",
      m1: "down",
      m2: "up",
      p0: "down",
      p1: "up",
      s0: "up",
      s1: "down",
    });
    assert.equal(snapshot.components.find((c) => c.id === "m1")!.uptimeMs, 0);

    // No new placement lands on a down component, whatever the policy would prefer.
    for (let v = 1; v <= 6; v++) assert.notEqual(r.manager.placeVregion(1, v), "m1");
    for (let i = 0; i < 4; i++) {
      const p = await r.manager.placeProcess(1);
      assert.equal(p.processor, "p1");
      assert.notEqual(p.home, "m1");
    }
    for (const f of ["x", "y", "z"]) assert.equal(r.manager.placeFile(f), "s0");
    // What was placed before stays where it is (the data lives there).
    assert.equal(r.manager.placeVregion(1, 0), "m1");

    // A heartbeat from a down component brings it back up, with an event.
    await r.rpc("m1").call("gm", "MGR_HEARTBEAT", { load: { framesFree: 10_000 } });
    const up = r.events.recent({ type: "component.up" }).filter((e) => e.component === "m1");
    assert.equal(up.at(-1)?.data?.recovered, true);
    assert.equal(r.manager.placeVregion(2, 0), "m1", "it receives placements again");
  } finally {
    await r.close();
  }
});

Deno.test("drained components get no new placement; with nothing left, placement fails clearly", async () => {
  const r = await rig();
  try {
    await r.manager.drain("p0", true);
    for (let i = 0; i < 3; i++) assert.equal((await r.manager.placeProcess(1)).processor, "p1");
    await r.rpc("p1").call("gm", "MGR_DRAIN", { id: "p1", drained: true });
    await assert.rejects(
      r.manager.placeProcess(1),
      (e: unknown) => e instanceof KernelError && e.code === "EAGAIN" && /drained/.test(e.message),
    );
    await r.manager.drain("p0", false);
    assert.equal((await r.manager.placeProcess(1)).processor, "p0");
    assert.equal(r.manager.snapshot().components.find((c) => c.id === "p1")?.drained, true);
    await assert.rejects(r.manager.drain("p9", true), /no component "p9"/);
    await assert.rejects(
      r.rpc("p0").call("gm", "MGR_DRAIN", { id: "gm", drained: true }),
      (e: unknown) => e instanceof RemoteError && e.code === "EINVAL",
    );
  } finally {
    await r.close();
  }
});

Deno.test("the snapshot has components with load and uptime, processes, vRegions, files and events", async () => {
  const r = await rig();
  try {
    r.loads.m0 = { framesUsed: 3, framesFree: 5, requests: 8 };
    await r.heartbeatsArrived();
    const { pid, processor, home } = await r.manager.placeProcess(2);
    r.manager.placeVregion(pid, 0);
    r.manager.placeFile("data/in.csv");
    await r.rpc(processor).call("gm", "MGR_PROCESS_EXIT", {
      pid,
      exitCode: 0,
      error: "",
    });
    const snap = r.manager.snapshot();
    const m0 = snap.components.find((c) => c.id === "m0")!;
    assert.deepEqual(m0.load, { framesUsed: 3, framesFree: 5, requests: 8 });
    assert.equal(m0.capacity.dramBytes, 64 << 20);
    assert.ok(m0.uptimeMs >= 0 && m0.heartbeats >= 1 && m0.missedHeartbeats <= MISSED);
    const proc = snap.processes.find((p) => p.pid === pid)!;
    assert.deepEqual(
      [proc.processor, proc.home, proc.threads, proc.state, proc.exitCode],
      [processor, home, 2, "exited", 0],
    );
    // An exited process's vRegions are forgotten; its threads no longer count.
    assert.deepEqual(snap.vregions, []);
    assert.equal(snap.components.find((c) => c.id === processor)!.assigned.threads, 0);
    assert.equal(snap.files[0].path, "data/in.csv");
    assert.deepEqual(snap.policies, {
      "process-placement": "fewest-threads",
      "vregion-placement": "round-robin",
      "file-placement": "fewest-files",
    });
    const types = new Set(snap.events.map((e) => e.type));
    for (const t of ["component.up", "process.start", "placement", "process.exit"]) {
      assert.ok(types.has(t as ClusterEvent["type"]), `missing ${t} in ${[...types]}`);
    }
    // The same state over RPC, as plain JSON.
    const { state } = await r.rpc("p1").call("gm", "MGR_SNAPSHOT", {});
    assert.equal((state as typeof snap).components.length, snap.components.length);
  } finally {
    await r.close();
  }
});
