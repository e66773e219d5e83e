import assert from "node:assert/strict";
import { startCluster } from "../../mod.ts";

const root = new URL("../../", import.meta.url);
const cli = new URL("cli/experiment.ts", root).pathname;

async function experiment(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, ...args],
    cwd: root.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

Deno.test("experiment --quick: results.json has every system x size cell, with table and plot", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-experiment-test-" });
  try {
    // The CI runs the whole --quick (with the sensitivity runs); here a smaller one.
    const { code, stdout, stderr } = await experiment([
      "--quick",
      "--scale",
      "0.002",
      "--no-sensitivity",
      "--out",
      dir,
    ]);
    assert.equal(code, 0, `${stdout}\n${stderr}`);
    const results = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
    const systems = ["legoos", "linux-ssd", "linux-ramdisk", "linux-infiniswap"];
    assert.deepEqual(results.systems, systems);
    assert.equal(results.cells.length, systems.length * 3);
    for (const system of systems) {
      for (const size of results.sizesBytes) {
        const cell = results.cells.find((c: { system: string; cacheBytes: number }) =>
          c.system === system && c.cacheBytes === size
        );
        assert.ok(cell, `no cell for ${system} at ${size} bytes`);
        assert.ok(Number.isFinite(cell.slowdown) && cell.slowdown > 0, JSON.stringify(cell));
        assert.ok(cell.paper > 0 && Math.abs(cell.ratio - cell.slowdown / cell.paper) < 1e-9);
      }
    }
    for (const run of results.runs) {
      assert.equal(run.exitCode, 0, run.error);
      assert.ok(run.modelNs > 0 && run.wallNs > 0);
      assert.ok(run.counters.misses > 0);
    }
    const ssd = results.runs.find((r: { system: string }) => r.system === "linux-ssd");
    assert.ok(ssd.processor["pager.majorFaults"] > 0, "the SSD machine swaps");
    const reference = results.runs.find((r: { system: string }) => r.system === "linux-local");
    assert.equal(reference.processor["pager.majorFaults"], 0, "the reference holds everything");
    const table = await Deno.readTextFile(`${dir}/table.md`);
    assert.match(table, /\| legoos \| [\d.]+ · 2\.13 · ×[\d.]+ \|/);
    const svg = await Deno.readTextFile(`${dir}/plot.svg`);
    assert.match(svg, /^<svg[^>]*>/);
    assert.match(svg, /stroke-dasharray/, "the paper's points are dashed");
    assert.match(svg, /linux-infiniswap \(paper\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("experiment: bad flags are named, exit code 2", async () => {
  for (
    const [args, message] of [
      [["--systems", "legoos,windows"], /unknown system\(s\) windows/],
      [["--sizes", "128,-1"], /--sizes must be a comma-separated list of positive numbers/],
      [["--workload", "tpcc"], /unknown workload "tpcc"/],
      [["--threads", "1.5"], /--threads must be/],
      [["--bogus"], /Unknown option '--bogus'/],
    ] as const
  ) {
    const { code, stderr } = await experiment([...args]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, message);
  }
});

Deno.test("LRU: a larger cache never gives more misses on the same trace", async () => {
  const workload = new URL("tests/workloads/access_trace.ts", root).href;
  let state = 7;
  const random = () => (state = (state * 48271) % 2147483647) / 2147483647;
  for (let trace = 0; trace < 3; trace++) {
    // A skewed trace over 40 pages: some pages come back often, others rarely.
    const pages = Array.from({ length: 150 }, () => String(Math.floor(40 * random() ** 2)));
    let previous = Infinity;
    for (const lines of [4, 8, 16, 24, 40]) {
      const cluster = await startCluster({
        components: [
          { id: "gm", role: "manager" },
          {
            id: "p0",
            role: "processor",
            options: { cacheBytes: lines * 4096, ways: lines, replacement: "lru" },
          },
          { id: "m0", role: "memory" },
          { id: "s0", role: "storage" },
        ],
      }, { log: () => {} });
      try {
        const result = await cluster.run(workload, pages);
        assert.equal(result.exitCode, 0, result.error);
        const misses = result.stats.misses;
        assert.ok(
          misses <= previous,
          `trace ${trace}: ${lines} lines gave ${misses} misses, fewer lines ${previous}`,
        );
        previous = misses;
      } finally {
        await cluster.stop();
      }
    }
  }
});

Deno.test("experiment cell, deterministic mode: one seed gives identical counters and model time, another seed differs", async () => {
  const { runOnce } = await import("../../bench/experiment/runner.ts");
  const { WORKLOADS } = await import("../../bench/experiment/workloads.ts");
  const tmpDir = await Deno.makeTempDir({ prefix: "legoemu-experiment-seed-" });
  // What a run counted, without the wall clock (the only thing allowed to differ).
  const modelled = (r: Awaited<ReturnType<typeof runOnce>>) => ({
    modelNs: r.modelNs,
    counters: Object.fromEntries(
      Object.entries(r.counters).filter(([key]) => !key.endsWith("wallNs")),
    ),
    pager: Object.fromEntries(
      Object.entries(r.processor).filter(([key]) => key.startsWith("pager.")),
    ),
  });
  try {
    for (const system of ["legoos", "linux-ssd"] as const) {
      const run = (seed: number) =>
        runOnce({
          workload: WORKLOADS.cnn,
          system,
          cacheBytes: 256 * 1024,
          scale: 0.002,
          threads: 4,
          seed,
          deterministic: true,
          variant: "base",
          latencyOptions: {},
          tmpDir,
        });
      const first = await run(1);
      const again = await run(1);
      const other = await run(2);
      for (const r of [first, again, other]) assert.equal(r.exitCode, 0, r.error);
      assert.ok(first.counters.misses > 0 && first.counters.evictions > 0, system);
      assert.deepEqual(modelled(again), modelled(first), `${system}: seed 1 twice`);
      assert.notDeepEqual(modelled(other), modelled(first), `${system}: seed 2 vs seed 1`);
    }
  } finally {
    await Deno.remove(tmpDir, { recursive: true });
  }
});
