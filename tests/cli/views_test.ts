import assert from "node:assert/strict";
import { formatTop, idRanges, naturalCompare, summarizeComponents } from "../../cli/views.ts";
import type { ClusterSnapshot, ComponentStatus } from "../../monitors/manager/cluster_state.ts";
import { formatRunSummary } from "../../mod.ts";

const component = (
  id: string,
  role: ComponentStatus["role"],
  load: Record<string, unknown>,
): ComponentStatus => ({
  id,
  role,
  state: "up",
  drained: false,
  joinedAt: 0,
  upSince: 0,
  lastSeenAt: 0,
  heartbeats: 1,
  capacity: {},
  addresses: {},
  load,
  assigned: { threads: 0, processes: 0, homes: 0, vregions: 0, files: 0 },
  uptimeMs: 0,
  missedHeartbeats: 0,
});

/** A 64-component cluster (1 manager, 32 processors, 28 memory, 3 storage) at `at` ms. */
function bigCluster(at: number, busy: (i: number) => number): ClusterSnapshot {
  // Every figure a stock processor reports, so a line that printed them all would be long.
  const processorLoad = (i: number) => ({
    processes: busy(i) > 0 ? 1 : 0,
    threads: busy(i) > 0 ? 2 : 0,
    cacheLinesUsed: 1024,
    hits: busy(i) * 1_234_567,
    misses: busy(i) * 4321,
    evictions: busy(i) * 4000,
    dirtyFlushes: busy(i) * 100,
    piggybacked: busy(i) * 90,
    pLocalZeroFills: 17,
    pagesFetched: busy(i) * 4300,
    victimHits: 0,
    bytesIn: busy(i) * 17_612_800,
    bytesOut: busy(i) * 409_600,
    messages: busy(i) * 4400,
    threadsByPid: { 1: 2 },
  });
  return {
    takenAt: at,
    components: [
      component("gm", "manager", {}),
      ...Array.from({ length: 32 }, (_, i) => component(`p${i}`, "processor", processorLoad(i))),
      ...Array.from({ length: 28 }, (_, i) =>
        component(`m${i}`, "memory", {
          framesUsed: 100 + i,
          framesFree: 262_044,
          requests: busy(i) * 9000,
          processes: 1,
          swappedPages: 0,
        })),
      ...Array.from({ length: 3 }, (_, i) =>
        component(`s${i}`, "storage", {
          requests: 5,
          reads: 2,
          writes: 3,
          inFlight: 0,
          openFiles: 1,
        })),
    ],
    processes: [],
    vregions: [],
    files: [],
  };
}

Deno.test("naturalCompare() orders ids as people count them", () => {
  const ids = ["p10", "p2", "m1", "p1", "p0", "gm", "p11", "p9"];
  assert.deepEqual(ids.sort(naturalCompare), ["gm", "m1", "p0", "p1", "p2", "p9", "p10", "p11"]);
  assert.equal(naturalCompare("p01", "p1") !== 0, true, "distinct ids never compare equal");
});

Deno.test("idRanges() folds counting runs and keeps the odd ones out", () => {
  assert.equal(idRanges(["p0", "p1", "p2", "p10", "p11", "x", "p4"]), "p0–p2, p4, p10–p11, x");
  assert.equal(idRanges(["m07", "m08"]), "m07, m08", "zero-padded ids are not counted");
});

Deno.test("the run summary lists a few components and summarises 64", () => {
  const few = ["gm:manager", "p0:processor", "m0:memory", "s0:storage"];
  assert.equal(summarizeComponents(few), "gm:manager p0:processor m0:memory s0:storage");
  const snap = bigCluster(0, () => 0);
  const many = snap.components.map((c) => `${c.id}:${c.role}`).reverse();
  const line = summarizeComponents(many);
  assert.equal(
    line,
    "64 components: 1 manager (gm), 32 processors (p0–p31), 28 memory (m0–m27), 3 storage (s0–s2)",
  );
  const summary = formatRunSummary({
    pid: 1,
    processor: "p0",
    home: "m0",
    exitCode: 0,
    wallNs: 1e6,
    modelNs: 1e6,
    stats: {},
    components: many,
    totalMs: 1,
  });
  const components = summary.find((l) => l.startsWith("components"))!;
  assert.ok(components.length <= 120, components);
});

Deno.test("top at 64 components fits an 80-column terminal, with rates per processor", () => {
  const before = bigCluster(10_000, (i) => i % 4 === 0 ? 1 : 0);
  const after = bigCluster(12_000, (i) => i % 4 === 0 ? 3 : 0);
  const lines = formatTop(after, before, { width: 80 });
  for (const line of lines) assert.ok(line.length <= 80, `${line.length}: ${line}`);
  // p0 did 2 × 1,234,567 hits and 2 × 4321 misses in 2 s.
  const p0 = lines.find((l) => l.startsWith("p0 "))!;
  assert.match(p0, /^p0\s+up\s+1\s+2\s+1\.2M\s+4321\s+99\.7%\s+4300\s+4000\s+1024$/);
  const p1 = lines.find((l) => l.startsWith("p1 "))!;
  assert.match(p1, /^p1\s+up\s+0\s+0\s+0\s+0\s+idle\s+0\s+0\s+1024$/);
  // Natural order: p2 comes before p10.
  assert.ok(
    lines.indexOf(lines.find((l) => l.startsWith("p2 "))!) <
      lines.indexOf(lines.find((l) => l.startsWith("p10 "))!),
  );
  assert.ok(
    lines.some((l) => l.startsWith("processor: 32 (32 up) · 9.9M hits/s")),
    lines.join("\n"),
  );
  // Without a terminal size the lines are whole; without a previous frame rates are unknown.
  assert.ok(formatTop(after).some((l) => /^p0\s+up\s+1\s+2\s+-\s+-\s+-/.test(l)));
});

Deno.test("top on a short terminal keeps the busiest components and counts the rest", () => {
  const before = bigCluster(0, () => 0);
  const after = bigCluster(1000, (i) => (i === 7 || i === 21 ? 1 : 0));
  const lines = formatTop(after, before, { width: 100, height: 40 });
  assert.ok(lines.length <= 40, `${lines.length} lines`);
  assert.ok(lines.some((l) => l.startsWith("p7 ")) && lines.some((l) => l.startsWith("p21 ")));
  assert.ok(lines.some((l) => /^… \d+ more processor components, less busy$/.test(l)));
});
