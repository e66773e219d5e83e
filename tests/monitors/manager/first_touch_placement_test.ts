import assert from "node:assert/strict";
import { startCluster } from "../../../mod.ts";
import { ConfigError } from "../../../kernel/config.ts";
import { loadClusterConfig } from "../../../mod.ts";
import { createStockRegistry } from "../../../plugins/stock.ts";
import { KernelError } from "../../../kernel/errors.ts";
import { joinCluster } from "../../../kernel/membership.ts";
import type { StockManager } from "../../../monitors/manager/mod.ts";
import packFullest, { createPackFullest } from "../../../examples/custom-placement/pack_fullest.ts";
import { handWired } from "../../hand_wired.ts";

const workload = new URL("../../workloads/first_touch.ts", import.meta.url).href;
const VREGION = 64 * 1024;

/**
 * Runs `first_touch.ts` on one processor and two memory components under most-free-memory
 * placement; returns the owner of each area (A, B, C) from the manager's placement events.
 */
async function ownersOf(
  at: "mmap" | "first-touch",
  figures: "heartbeat" | "current",
): Promise<string[]> {
  const log: string[] = [];
  const cluster = await startCluster({
    components: [
      {
        id: "gm",
        role: "manager",
        options: {
          // No heartbeat during the run: heartbeat figures stay those of the join.
          heartbeatMs: 60_000,
          vregionBytes: VREGION,
          vregionPlacement: "most-free-memory",
          vregionPlacementAt: at,
          vregionFigures: figures,
        },
      },
      { id: "p0", role: "processor", options: { cacheBytes: 1 << 20 } },
      { id: "m0", role: "memory", options: { dramBytes: 8 << 20 } },
      { id: "m1", role: "memory", options: { dramBytes: 8 << 20 } },
      { id: "s0", role: "storage" },
    ],
  }, { log: (_, line) => log.push(line) });
  try {
    const result = await cluster.run(workload, [String(VREGION)]);
    assert.equal(result.exitCode, 0, result.error);
    const areas = log.find((l) => l.includes("areas "))!.split("areas ")[1].split(" ");
    const placed = new Map(
      cluster.events.recent({ type: "placement" })
        .filter((e) => e.data?.what === "vregion")
        .map((e) => [e.data!.vregion as number, e.data!.owner as string]),
    );
    return areas.map((addr) => placed.get(Math.floor(Number(addr) / VREGION)) ?? "unplaced");
  } finally {
    await cluster.stop();
  }
}

Deno.test("first-touch placement with current figures puts a vRegion where memory is free when it is touched", async () => {
  // B (16 pages) is touched first and lands on m0 (a tie), C (1 page) on m1 (m0 is fuller),
  // then A: m0 holds 16 pages and m1 one, so A goes to m1 — though at mmap time, when
  // every area was mapped, both components were empty.
  assert.deepEqual(await ownersOf("first-touch", "current"), ["m1", "m0", "m1"]);
});

Deno.test("placement at mmap, or at first touch with heartbeat figures, does not see what was filled since", async () => {
  // At mmap every component is empty: A (mapped first) goes to m0 by id, B and C follow
  // the tie-breaker (fewest vRegions owned).
  assert.deepEqual(await ownersOf("mmap", "current"), ["m0", "m1", "m0"]);
  // At first touch with figures a heartbeat period old, m0 and m1 look equally free when
  // A is touched, each owning one vRegion: A goes to m0 by id.
  assert.deepEqual(await ownersOf("first-touch", "heartbeat"), ["m0", "m0", "m1"]);
});

Deno.test("bad vregionPlacementAt and vregionFigures values are config errors naming the option", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-first-touch-" });
  try {
    for (const [option, value] of [["vregionPlacementAt", "touch"], ["vregionFigures", 3]]) {
      const file = `${dir}/bad.json`;
      await Deno.writeTextFile(
        file,
        JSON.stringify({
          components: [
            { id: "gm", role: "manager", options: { [option]: value } },
            { id: "p0", role: "processor" },
            { id: "m0", role: "memory" },
            { id: "s0", role: "storage" },
          ],
        }),
      );
      const error = await loadClusterConfig(file, createStockRegistry()).then(
        () => assert.fail("accepted"),
        (e) => e,
      );
      assert.ok(error instanceof ConfigError, String(error));
      assert.match(String(error), new RegExp(`components\\[0\\]\\.options\\.${option}`));
      assert.match(String(error), /mmap|heartbeat/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/custom-placement's pack-fullest sees figures asked at decision time, not the heartbeat's", async () => {
  const wired = await handWired({ timeoutMs: 1000 });
  try {
    wired.registry.register(packFullest);
    const manager = await wired.boot<StockManager>("gm", "manager-monitor", "manager", {
      heartbeatMs: 20,
      vregionPlacement: "pack-fullest",
    });
    // Heartbeats say m0 is the fuller; asked now, m1 is (it filled since its last heartbeat).
    const heartbeat: Record<string, Record<string, number>> = {
      m0: { framesFree: 10 },
      m1: { framesFree: 500 },
    };
    const now: Record<string, Record<string, number>> = {
      m0: { framesFree: 400 },
      m1: { framesFree: 5 },
    };
    const memberships = [];
    for (const id of ["m0", "m1"]) {
      const context = await wired.context(id, "memory");
      context.rpc.handle({
        MGR_QUERY: ({ what }) => {
          if (what !== "load") throw new KernelError("ENOENT", `no question ${what}`);
          return { result: now[id] };
        },
      });
      memberships.push(await joinCluster(context, { dramBytes: 1 << 22 }, () => heartbeat[id]));
    }
    try {
      const heartbeatArrived = async () => {
        const deadline = performance.now() + 3000;
        while (manager.state.components.get("m1")?.load.framesFree !== 500) {
          if (performance.now() > deadline) throw new Error("no heartbeat arrived");
          await new Promise((r) => setTimeout(r, 5));
        }
      };
      await heartbeatArrived();
      const client = await wired.node("p0");
      const { owner } = await client.call("gm", "MGR_PLACE_VREGION", {
        pid: 1,
        vregion: 3,
        touch: true,
      });
      assert.equal(owner, "m1");
      // The heartbeat figures alone would have packed onto m0.
      assert.equal(
        createPackFullest().pickOwner(
          { pid: 1, vregion: 4 },
          manager.state.candidates("memory").map((c) => ({ ...c, load: heartbeat[c.id] })),
        ),
        "m0",
      );
      // A component that does not answer the question keeps its heartbeat figures (the
      // answer asked last stands until the next heartbeat replaces it).
      now.m1 = {};
      await heartbeatArrived();
      const second = await client.call("gm", "MGR_PLACE_VREGION", {
        pid: 1,
        vregion: 5,
        touch: true,
      });
      assert.equal(
        second.owner,
        "m0",
        "m1's answer was empty: heartbeat 500 free against m0's 400",
      );
    } finally {
      for (const m of memberships) m.leave();
    }
  } finally {
    await wired.close();
  }
});

Deno.test("a vregion-placement plugin declaring unknown figures is refused at start, naming them", async () => {
  const wired = await handWired();
  try {
    wired.registry.register({
      ...packFullest,
      name: "odd-figures",
      create: () => ({ ...createPackFullest(), name: "odd-figures", figures: "fresh" as never }),
    });
    await assert.rejects(
      wired.boot("gm", "manager-monitor", "manager", { vregionPlacement: "odd-figures" }),
      /"odd-figures" declares figures "fresh"; expected "heartbeat" or "current"/,
    );
  } finally {
    await wired.close();
  }
});
