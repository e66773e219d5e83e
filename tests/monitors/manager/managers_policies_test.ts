import assert from "node:assert/strict";
import fc from "fast-check";
import { z } from "zod";
import { KernelError } from "../../../kernel/errors.ts";
import {
  ClusterState,
  FailureDetector,
  managerMonitorPlugin,
  type StockManager,
} from "../../../monitors/manager/mod.ts";
import { joinCluster, type Membership } from "../../../kernel/membership.ts";
import type {
  AssignedCounts,
  FilePlacementPolicy,
  PlacementCandidate,
  ProcessPlacementPolicy,
  VregionPlacementPolicy,
} from "../../../kernel/placement.ts";
import { definePlugin, PluginError, PluginRegistry } from "../../../kernel/plugins.ts";
import { placementPlugins } from "../../../plugins/placement/mod.ts";
import { handWired } from "../../hand_wired.ts";

const candidateArb = (role: "processor" | "memory" | "storage") =>
  fc.record({
    id: fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/),
    load: fc.dictionary(
      fc.constantFrom("threads", "framesUsed", "framesFree", "requests", "junk"),
      fc.oneof(fc.integer({ min: 0, max: 1e6 }), fc.double(), fc.string(), fc.constant(null)),
    ),
    capacity: fc.dictionary(
      fc.constantFrom("dramBytes", "cacheBytes"),
      fc.oneof(fc.integer({ min: 0, max: 2 ** 40 }), fc.string()),
    ),
    assigned: fc.record<AssignedCounts>({
      threads: fc.nat(64),
      processes: fc.nat(16),
      homes: fc.nat(16),
      vregions: fc.nat(64),
      files: fc.nat(64),
    }),
  }).map((c): PlacementCandidate => ({ ...c, role, lastSeenAt: 0 }));

const candidatesArb = (role: "processor" | "memory" | "storage") =>
  fc.uniqueArray(candidateArb(role), { minLength: 1, maxLength: 8, selector: (c) => c.id })
    .map((list) => list.sort((a, b) => (a.id < b.id ? -1 : 1)));

/** The contract every placement policy passes: one of the candidates, never a throw. */
Deno.test("every stock placement policy picks one of its candidates for any load figures", async () => {
  const registry = new PluginRegistry();
  for (const p of placementPlugins) registry.register(p);
  const prng = () => 0.5;
  for (const plugin of placementPlugins) {
    const policy = await registry.create<unknown>(plugin.kind, plugin.name, {}, {
      manager: "gm",
      prng,
    });
    const role = plugin.kind === "process-placement"
      ? "processor"
      : plugin.kind === "vregion-placement"
      ? "memory"
      : "storage";
    fc.assert(
      fc.property(candidatesArb(role), fc.nat(1000), fc.string(), (candidates, n, path) => {
        const ids = candidates.map((c) => c.id);
        const picks: string[] = [];
        if (plugin.kind === "process-placement") {
          picks.push(
            (policy as ProcessPlacementPolicy).pickProcessor({ pid: n, threads: 1 }, candidates),
          );
        } else if (plugin.kind === "vregion-placement") {
          const gmm = policy as VregionPlacementPolicy;
          picks.push(gmm.pickOwner({ pid: n, vregion: n }, candidates));
          if (gmm.pickHome) picks.push(gmm.pickHome({ pid: n, threads: 1 }, candidates));
        } else {
          picks.push(
            (policy as FilePlacementPolicy).pickStorage({ path: path || "f" }, candidates),
          );
        }
        for (const id of picks) {
          assert.ok(ids.includes(id), `${plugin.name} picked ${id} of ${ids}`);
        }
      }),
      { seed: 6, numRuns: 150 },
    );
  }
});

Deno.test("round-robin keeps its turn when a component leaves or joins", async () => {
  const registry = new PluginRegistry();
  for (const p of placementPlugins) registry.register(p);
  const policy = await registry.create<VregionPlacementPolicy>(
    "vregion-placement",
    "round-robin",
    {},
    {},
  );
  const none: AssignedCounts = { threads: 0, processes: 0, homes: 0, vregions: 0, files: 0 };
  const list = (...ids: string[]) =>
    ids.map((id): PlacementCandidate => ({
      id,
      role: "memory",
      capacity: {},
      load: {},
      assigned: none,
      lastSeenAt: 0,
    }));
  const pick = (c: PlacementCandidate[]) => policy.pickOwner({ pid: 1, vregion: 0 }, c);
  assert.equal(pick(list("m0", "m1", "m2")), "m0");
  assert.equal(pick(list("m0", "m1", "m2")), "m1");
  assert.equal(pick(list("m0", "m2")), "m2", "m1 went down: the turn passes to m2, not m0");
  assert.equal(pick(list("m0", "m1", "m2", "m3")), "m3");
  assert.equal(pick(list("m0", "m1", "m2", "m3")), "m0");
});

/** A manager with three scripted memory components and a processor, on the memory transport. */
async function bootManager(
  options: Record<string, unknown>,
  extra: (r: PluginRegistry) => void = () => {},
) {
  const rig = await handWired({ timeoutMs: 1000 });
  extra(rig.registry);
  const memberships: Membership[] = [];
  const close = async () => {
    for (const m of memberships) m.leave();
    await rig.close();
  };
  try {
    const manager = await rig.boot<StockManager>("gm", "manager-monitor", "manager", {
      heartbeatMs: 1000,
      ...options,
    });
    for (const id of ["m0", "m1", "m2"]) {
      memberships.push(await joinCluster(await rig.context(id, "memory"), {}, () => ({})));
    }
    memberships.push(await joinCluster(await rig.context("p0", "processor"), {}, () => ({})));
    return { manager, close };
  } catch (e) {
    await close();
    throw e;
  }
}

Deno.test("an unknown policy name fails the manager's start with the names available", async () => {
  await assert.rejects(
    bootManager({ vregionPlacement: "least-loaded" }),
    (e: unknown) => {
      assert.ok(e instanceof PluginError);
      assert.equal(e.code, "UNKNOWN_PLUGIN");
      assert.equal(e.kind, "vregion-placement");
      assert.match(e.message, /option vregionPlacement/);
      assert.match(e.message, /available: fewest-requests, most-free-memory, round-robin/);
      assert.deepEqual(e.available, ["fewest-requests", "most-free-memory", "round-robin"]);
      return true;
    },
  );
  await assert.rejects(
    bootManager({ filePlacement: { plugin: "fewest-files", options: { weight: 2 } } }),
    (e: unknown) =>
      e instanceof PluginError && e.code === "BAD_PLUGIN_OPTIONS" && /weight/.test(e.message),
  );
  const registry = new PluginRegistry().register(managerMonitorPlugin);
  assert.throws(
    () => registry.parseOptions("manager-monitor", "manager", { processPlacement: 7 }),
    (e: unknown) => e instanceof PluginError && e.path === "options.processPlacement",
  );
});

Deno.test("a user-registered policy is used by name, with its own options", async () => {
  interface PreferOptions {
    prefer: string;
  }
  const prefer = definePlugin({
    kind: "vregion-placement",
    name: "prefer-one",
    configSchema: z.strictObject({ prefer: z.string() }),
    create: (options: PreferOptions): VregionPlacementPolicy => ({
      name: "prefer-one",
      pickOwner: (_r, c) => c.find((x) => x.id === options.prefer)?.id ?? c[0].id,
    }),
  });
  const r = await bootManager(
    { vregionPlacement: { plugin: "prefer-one", options: { prefer: "m2" } } },
    (registry) => registry.register(prefer),
  );
  try {
    assert.deepEqual([0, 1, 2].map((v) => r.manager.placeVregion(1, v)), ["m2", "m2", "m2"]);
    // Without pickHome, homes go to the memory component homing the fewest processes.
    const homes = [];
    for (let i = 0; i < 4; i++) homes.push((await r.manager.placeProcess(1)).home);
    assert.deepEqual(homes, ["m0", "m1", "m2", "m0"]);
    assert.equal(r.manager.policies()["vregion-placement"], "prefer-one");
  } finally {
    await r.close();
  }
});

Deno.test("a policy that answers with a non-candidate is caught, and the manager keeps serving", async () => {
  const rogue = definePlugin({
    kind: "vregion-placement",
    name: "rogue",
    configSchema: z.strictObject({}),
    create: (): VregionPlacementPolicy => ({ name: "rogue", pickOwner: () => "m9" }),
  });
  const r = await bootManager(
    { vregionPlacement: "rogue" },
    (registry) => registry.register(rogue),
  );
  try {
    assert.throws(
      () => r.manager.placeVregion(1, 0),
      (e: unknown) =>
        e instanceof KernelError && e.code === "EPROTO" &&
        /policy "rogue" picked "m9", which is not one of the candidates \(m0, m1, m2\)/.test(
          e.message,
        ),
    );
    await r.manager.setPolicy("vregion-placement", "round-robin");
    assert.equal(r.manager.placeVregion(1, 0), "m0");
    await assert.rejects(
      r.manager.setPolicy("vregion-placement", "nope"),
      (e: unknown) => e instanceof PluginError && /available: fewest-requests/.test(e.message),
    );
    await assert.rejects(
      r.manager.setPolicy("replacement-policy", "lru"),
      (e: unknown) => e instanceof KernelError && e.code === "EINVAL",
    );
    assert.equal(r.manager.policies()["vregion-placement"], "round-robin");
  } finally {
    await r.close();
  }
});

Deno.test("FailureDetector suspects, then declares down, and ignores a sweep that ran late", () => {
  let now = 0;
  const state = new ClusterState({ now: () => now, heartbeatMs: 10 });
  state.join("gm", "manager", {}, {});
  state.join("m0", "memory", {}, {});
  state.join("m1", "memory", {}, {});
  const seen: string[] = [];
  const detector = new FailureDetector(state, {
    heartbeatMs: 10,
    missedHeartbeats: 4,
    self: "gm",
    onDown: (id, missed) => seen.push(`down ${id} ${missed}`),
    onSuspect: (id, missed) => seen.push(`suspect ${id} ${missed}`),
  });
  const tick = (to: number) => {
    now = to;
    state.heartbeat("m1", {});
    return detector.sweep();
  };
  for (const t of [10, 20, 30, 40]) tick(t);
  assert.deepEqual(seen, ["suspect m0 2"]);
  assert.deepEqual(tick(50), ["m0"]);
  assert.deepEqual(seen, ["suspect m0 2", "down m0 5"]);
  // m1 heartbeated every time: never suspected. The manager's own record never ages.
  assert.equal(state.components.get("m1")!.state, "up");
  assert.equal(state.missedHeartbeats(state.components.get("gm")!), 0);
  // A stall: the sweep runs 100 ms late and m1 looks silent, but may have heartbeats queued.
  now = 150;
  assert.deepEqual(detector.sweep(), []);
  assert.equal(state.components.get("m1")!.state, "up");
  now = 160;
  assert.deepEqual(detector.sweep(), ["m1"], "the next sweep on time does declare it");
  // A heartbeat brings it back.
  assert.equal(state.heartbeat("m1", { framesFree: 1 })?.recovered, true);
  assert.equal(state.components.get("m1")!.state, "up");
});

Deno.test("ClusterState keeps placement counts in step with processes, vRegions and files", () => {
  const state = new ClusterState({ now: () => 5 });
  state.join("p0", "processor", {}, {});
  state.join("m0", "memory", {}, {});
  state.join("m1", "memory", {}, {});
  state.join("s0", "storage", {}, {});
  state.addProcess({
    pid: 1,
    processor: "p0",
    home: "m0",
    threads: 3,
    state: "running",
    startedAt: 5,
  });
  state.setVregionOwner(1, 0, "m0");
  state.setVregionOwner(1, 1, "m1");
  state.setFileLocation("d/a", "s0");
  state.setFileLocation("d/b", "s0");
  const assigned = (id: string) => state.components.get(id)!.assigned;
  assert.deepEqual(assigned("p0"), { threads: 3, processes: 1, homes: 0, vregions: 0, files: 0 });
  assert.deepEqual(assigned("m0"), { threads: 0, processes: 0, homes: 1, vregions: 1, files: 0 });
  assert.equal(state.renameFiles("d", "e", "s0"), 2);
  assert.deepEqual(state.filesByStorage(), { s0: ["e/a", "e/b"] });
  assert.equal(state.dropFiles("e", { recursive: true }), 2);
  assert.equal(assigned("s0").files, 0);
  state.endProcess(1, { exitCode: 0 });
  state.endProcess(1, { exitCode: 0 }); // twice: counted once
  assert.equal(state.dropVregions(1), 2);
  assert.deepEqual(assigned("p0"), { threads: 0, processes: 0, homes: 0, vregions: 0, files: 0 });
  assert.deepEqual(assigned("m1"), { threads: 0, processes: 0, homes: 0, vregions: 0, files: 0 });
  // A re-join keeps what was placed there and the first join time.
  state.setVregionOwner(2, 0, "m1");
  const { rejoined, record } = state.join("m1", "memory", { dramBytes: 1 }, {});
  assert.equal(rejoined, true);
  assert.equal(record.assigned.vregions, 1);
  const second = {
    pid: 2,
    processor: "p0",
    home: "m0",
    threads: 1,
    state: "running" as const,
    startedAt: 0,
  };
  state.addProcess(second);
  assert.throws(() => state.addProcess({ ...second }), /process 2 is already recorded/);
});
