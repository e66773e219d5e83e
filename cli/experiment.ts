/**
 * `deno task experiment`: the LegoOS experiment end to end. Runs a workload on LegoOS and
 * on the Linux baselines at several cache sizes (plus Linux with all memory local, the
 * reference), and writes `results.json`, `table.md` and `plot.svg` to `--out`.
 *
 * Slowdown = model time of a system ÷ model time of Linux all-local, same workload, same
 * seed, same model. The model is calibrated only from micro-level figures; the paper's
 * end-to-end table is printed beside the results, never used to set a constant. Each
 * cell also runs with the emulated CPU's roofline and with the RPC latency curve at 0.5×
 * and 2× (`--no-sensitivity` skips these), so a reader sees what the answer rests on.
 *
 * @module
 */

import { parseArgs } from "node:util";
import cliProgress from "npm:cli-progress@3.12.0";
import { REFERENCE, type SystemName, SYSTEMS } from "../bench/experiment/paper.ts";
import { runInProcess } from "../bench/experiment/run_one.ts";
import {
  latencyOptionsFor,
  type RunRecord,
  type RunSpec,
  type RunSystem,
  type Variant,
  VARIANTS,
} from "../bench/experiment/runner.ts";
import { buildCells, markdownTable, plotSvg } from "../bench/experiment/report.ts";
import { WORKLOADS } from "../bench/experiment/workloads.ts";
import { createStockRegistry } from "../plugins/stock.ts";

const MiB = 2 ** 20;
/** Scale of `--quick`: the working set and every cache size shrink alike. */
const QUICK_SCALE = 1 / 128;

const HELP = `deno task experiment [options]

  --workload NAME     cnn (default), wordcount or kv
  --sizes LIST        cache sizes in MiB at the paper's scale, comma-separated (default: the
                      paper's, 128,256,512 for cnn); each run uses size × scale
  --systems LIST      of ${SYSTEMS.join(", ")} (default: all)
  --threads N         threads of the workload (default 4)
  --seeds LIST        seeds, comma-separated (default 1); cells average over them
  --scale X           working set (and sizes) × X (default 1: the paper's 0.9 GB for cnn)
  --quick             scale ${QUICK_SCALE} (unless --scale is given): the whole experiment in minutes
  --jobs N            runs side by side (default 2)
  --free-running      leave deterministic mode off: threads interleave as the host runs
                      them, so a seed no longer fixes the counters and model time (faster)
  --no-sensitivity    skip the 0.5x/2x compute and RPC runs
  --out DIR           where results.json, table.md and plot.svg go (default results/)
`;

interface Plan {
  spec: Omit<RunSpec, "tmpDir" | "onThreads">;
  label: string;
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        workload: { type: "string", default: "cnn" },
        sizes: { type: "string" },
        systems: { type: "string", default: SYSTEMS.join(",") },
        threads: { type: "string", default: "4" },
        seeds: { type: "string", default: "1" },
        scale: { type: "string" },
        quick: { type: "boolean", default: false },
        jobs: { type: "string", default: "2" },
        "no-sensitivity": { type: "boolean", default: false },
        "free-running": { type: "boolean", default: false },
        out: { type: "string", default: "results" },
        help: { type: "boolean", default: false },
      },
    }));
  } catch (e) {
    console.error(`experiment: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const fail = (message: string) => {
    console.error(`experiment: ${message}`);
    return 2;
  };
  const workload = WORKLOADS[values.workload];
  if (!workload) {
    return fail(
      `unknown workload "${values.workload}" (known: ${Object.keys(WORKLOADS).join(", ")})`,
    );
  }
  const numbers = (text: string, what: string, integer: boolean) => {
    const list = text.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
    if (
      list.length === 0 ||
      list.some((n) => !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    ) {
      throw new RangeError(
        `--${what} must be a comma-separated list of ${
          integer ? "positive integers" : "positive numbers"
        }, got "${text}"`,
      );
    }
    return list;
  };
  let sizesMiB: number[], seeds: number[], threads: number, jobs: number, scale: number;
  try {
    sizesMiB = numbers(values.sizes ?? workload.paperSizesMiB.join(","), "sizes", false);
    seeds = numbers(values.seeds, "seeds", true);
    [threads] = numbers(values.threads, "threads", true);
    [jobs] = numbers(values.jobs, "jobs", true);
    [scale] = values.scale !== undefined
      ? numbers(values.scale, "scale", false)
      : [values.quick ? QUICK_SCALE : 1];
  } catch (e) {
    return fail((e as Error).message);
  }
  if (scale > 2) return fail(`--scale must be at most 2, got ${scale}`);
  const systems = values.systems.split(",").map((s) => s.trim()) as SystemName[];
  const unknown = systems.filter((s) => !SYSTEMS.includes(s));
  if (unknown.length > 0) {
    return fail(`unknown system(s) ${unknown.join(", ")} (known: ${SYSTEMS.join(", ")})`);
  }

  const workingSet = workload.fullWorkingSetBytes * scale;
  const sizesBytes = sizesMiB.map((m) => Math.round(m * MiB * scale));
  // The reference holds the whole working set, with room for the program's own pages.
  const referenceBytes = Math.ceil((workingSet * 1.25 + 8 * MiB) / (2 * MiB)) * 2 * MiB;
  if (referenceBytes > 2 ** 31) {
    return fail(
      `the working set (${
        (workingSet / MiB).toFixed(0)
      } MiB) is too large for an all-local reference of at most 2 GiB`,
    );
  }

  const variants: Variant[] = ["base"];
  const skipped: string[] = [];
  if (!values["no-sensitivity"]) {
    for (const v of VARIANTS.slice(1)) {
      if (latencyOptionsFor(v)) variants.push(v);
      else skipped.push(v);
    }
  }
  const deterministic = !values["free-running"];
  const plans: Plan[] = [];
  for (const variant of variants) {
    const latencyOptions = latencyOptionsFor(variant)!;
    for (const seed of seeds) {
      const add = (system: RunSystem, cacheBytes: number) =>
        plans.push({
          spec: {
            workload,
            system,
            cacheBytes,
            scale,
            threads,
            seed,
            deterministic,
            variant,
            latencyOptions,
          },
          label: `${system} ${
            (cacheBytes / MiB).toFixed(cacheBytes < 10 * MiB ? 1 : 0)
          } MiB s${seed}${variant === "base" ? "" : ` ${variant}`}`,
        });
      add(REFERENCE, referenceBytes);
      for (const system of systems) for (const bytes of sizesBytes) add(system, bytes);
    }
  }
  console.log(
    `experiment: ${workload.name}, working set ${
      (workingSet / MiB).toFixed(1)
    } MiB (scale ${scale}), ` +
      `sizes ${sizesBytes.map((b) => (b / MiB).toFixed(2)).join("/")} MiB, ${threads} threads, ` +
      `seeds ${seeds.join(",")}${deterministic ? " (deterministic)" : " (free-running)"}, ` +
      `${plans.length} runs, ${jobs} at a time` +
      (skipped.length ? ` (no ${skipped.join(", ")}: the latency model has no such constant)` : ""),
  );

  const tmpDir = await Deno.makeTempDir({ prefix: "legoemu-experiment-" });
  const threadsPerRun = workload.threadsStarted(scale, threads);
  // A bar per run on a terminal; elsewhere (CI logs) one line as each run ends.
  const tty = Deno.stdout.isTerminal();
  const bars = tty
    ? new cliProgress.MultiBar({
      format: "{label} |{bar}| {value}/{total} threads | {status}",
      hideCursor: true,
      clearOnComplete: false,
      barsize: 24,
    }, cliProgress.Presets.shades_classic)
    : undefined;
  let finished = 0;
  const labelWidth = Math.max(...plans.map((p) => p.label.length));
  const runs: RunRecord[] = [];
  const started = performance.now();
  // The all-local references last: they are the shortest runs (no misses after the first
  // touch), so with several runs side by side they fill the gaps at the end.
  const queue = [
    ...plans.filter((p) => p.spec.system !== REFERENCE),
    ...plans.filter((p) => p.spec.system === REFERENCE),
  ];
  let next = 0;
  const worker = async () => {
    while (next < queue.length) {
      const plan = queue[next++];
      const bar = bars?.create(threadsPerRun, 0, {
        label: plan.label.padEnd(labelWidth),
        status: "running",
      });
      const done = (status: string) => {
        finished++;
        if (bar) bar.update(threadsPerRun, { status });
        else {console.log(
            `[${finished}/${plans.length}] ${plan.label.padEnd(labelWidth)} ${status}`,
          );}
      };
      const t0 = performance.now();
      try {
        // Each run in a process of its own: runs side by side share no JavaScript thread.
        const { workload: w, ...rest } = plan.spec;
        const record = await runInProcess(
          { ...rest, workload: w.name, tmpDir },
          (n) => bar?.update(n),
        );
        runs.push(record);
        done(
          record.exitCode === 0
            ? `model ${(record.modelNs / 1e6).toFixed(2)} ms, wall ${
              ((performance.now() - t0) / 1e3).toFixed(1)
            } s`
            : `FAILED: ${record.error?.split("\n")[0]}`,
        );
      } catch (e) {
        done(`FAILED: ${(e as Error).message}`);
        runs.push({
          system: plan.spec.system,
          cacheBytes: plan.spec.cacheBytes,
          seed: plan.spec.seed,
          variant: plan.spec.variant,
          exitCode: -1,
          error: (e as Error).message,
          modelNs: NaN,
          wallNs: NaN,
          counters: {},
          processor: {},
        });
      }
      bar?.stop();
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, plans.length) }, worker));
  bars?.stop();
  await Deno.remove(tmpDir, { recursive: true }).catch(() => {});
  const wallS = (performance.now() - started) / 1e3;

  const cells = buildCells(runs, workload, scale, systems, sizesBytes);
  const latency = await createStockRegistry().create<{ describe(): unknown; name: string }>(
    "latency-model",
    "legoos-ib",
    {},
    {},
  );
  const failed = runs.filter((r) => r.exitCode !== 0);
  const table = markdownTable(cells, scale);
  const title = `${workload.name}: slowdown vs Linux all-local (${threads} threads, ${
    (workingSet / MiB).toFixed(0)
  } MiB working set)`;
  await Deno.mkdir(values.out, { recursive: true });
  const results = {
    generatedAt: new Date().toISOString(),
    command: `deno task experiment ${argv.join(" ")}`.trim(),
    workload: workload.name,
    scale,
    workingSetBytes: workingSet,
    threads,
    seeds,
    deterministic,
    sizesBytes,
    referenceBytes,
    systems,
    variants,
    wallSeconds: wallS,
    note: "slowdown = model time of the system / model time of Linux with all memory local, " +
      "same workload, seed and model variant; the latency model is calibrated from micro-level " +
      "figures only (never from the paper's end-to-end table, which `paper` repeats for comparison)",
    latencyModel: { name: latency.name, constants: latency.describe() },
    cells,
    runs,
  };
  await Deno.writeTextFile(`${values.out}/results.json`, JSON.stringify(results, null, 2) + "\n");
  await Deno.writeTextFile(`${values.out}/table.md`, `# ${title}\n\n${table}`);
  await Deno.writeTextFile(`${values.out}/plot.svg`, plotSvg(cells, title, scale));
  console.log(`\n${table}`);
  console.log(
    `experiment: ${runs.length} runs in ${wallS.toFixed(1)} s wall, ${failed.length} failed; ` +
      `wrote ${values.out}/results.json, table.md, plot.svg`,
  );
  for (const r of failed) {
    console.error(`  failed: ${r.system} ${r.cacheBytes} B ${r.variant}: ${r.error}`);
  }
  return failed.length === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
