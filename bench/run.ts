/**
 * `deno task bench [filter]`: runs the benchmark cases of every `bench/*_bench.ts` file
 * (or those whose name contains `filter`; cases marked `long` only by name), shows a progress
 * bar per case, prints a table
 * and merges the metrics into `bench/results.json` (an object keyed by metric name).
 *
 * @module
 */

import cliProgress from "cli-progress";
import type { BenchCase, Metric } from "./harness.ts";

const here = new URL(".", import.meta.url);
const resultsPath = new URL("results.json", here);

async function loadCases(): Promise<BenchCase[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(here)) {
    if (entry.isFile && entry.name.endsWith("_bench.ts")) files.push(entry.name);
  }
  const cases: BenchCase[] = [];
  for (const file of files.sort()) {
    const module = await import(new URL(file, here).href);
    if (!Array.isArray(module.benchmarks)) {
      throw new Error(`bench/${file} must export "benchmarks: BenchCase[]"`);
    }
    cases.push(...module.benchmarks);
  }
  return cases;
}

function formatValue(metric: Metric): string {
  const v = metric.value;
  const text = Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en-US") : v.toPrecision(4);
  return `${text} ${metric.unit}`;
}

/** Longest a case may take: past it, the run stops with a message naming the case. */
const CASE_DEADLINE_MS = 5 * 60_000;
/** The same for a case marked `long`. */
const LONG_CASE_DEADLINE_MS = 30 * 60_000;

/** `work`, or an error naming `name` once `ms` pass without it. */
async function withDeadline<T>(name: string, work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`bench case ${name} did not finish in ${ms / 1000} s`)),
      ms,
    );
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function main(filter: string | undefined): Promise<number> {
  const all = await loadCases();
  const cases = filter ? all.filter((c) => c.name.includes(filter)) : all.filter((c) => !c.long);
  if (!filter) {
    const skipped = all.filter((c) => c.long).map((c) => c.name);
    if (skipped.length) {
      console.error(`bench: long cases left out (run by name): ${skipped.join(", ")}`);
    }
  }
  if (cases.length === 0) {
    console.error(
      `bench: no benchmark matches "${filter}"; available: ${all.map((c) => c.name).join(", ")}`,
    );
    return 2;
  }
  const results: Record<string, Metric> = {};
  const bar = new cliProgress.SingleBar({
    format: "{bar} {percentage}% | {case} ({index}/{cases})",
    hideCursor: true,
    noTTYOutput: true,
    notTTYSchedule: 5000,
  }, cliProgress.Presets.shades_classic);
  bar.start(100, 0, { case: cases[0].name, index: 1, cases: cases.length });
  const started = performance.now();
  for (const [i, c] of cases.entries()) {
    const progress = (fraction: number) =>
      bar.update(Math.round(((i + Math.min(1, Math.max(0, fraction))) / cases.length) * 100), {
        case: c.name,
        index: i + 1,
        cases: cases.length,
      });
    progress(0);
    Object.assign(
      results,
      await withDeadline(
        c.name,
        c.run(progress),
        c.long ? LONG_CASE_DEADLINE_MS : CASE_DEADLINE_MS,
      ),
    );
    progress(1);
  }
  bar.stop();

  const rows = Object.entries(results).map(([name, m]) => [
    name,
    formatValue(m),
    m.baseline === undefined ? "" : String(Number(m.baseline.toPrecision(4))),
    m.ratio === undefined ? "" : `${m.ratio.toFixed(2)}x`,
    m.goal ?? "",
  ]);
  const header = ["metric", "value", "baseline", "ratio", "goal"];
  const widths = header.map((h, col) => Math.max(h.length, ...rows.map((r) => r[col].length)));
  const line = (cells: string[]) => cells.map((c, col) => c.padEnd(widths[col])).join("  ");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of rows) console.log(line(row));
  for (const [name, m] of Object.entries(results)) if (m.note) console.log(`  ${name}: ${m.note}`);

  let previous: Record<string, Metric> = {};
  try {
    previous = JSON.parse(await Deno.readTextFile(resultsPath));
  } catch {
    // No earlier results (or unreadable ones): start a fresh file.
  }
  const merged = { ...previous, ...results };
  await Deno.writeTextFile(resultsPath, JSON.stringify(merged, null, 2) + "\n");
  console.log(
    `bench: ${cases.length} cases, ${Object.keys(results).length} metrics in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s; written to bench/results.json`,
  );
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args[0]));
  } catch (error) {
    console.error(`\nbench: ${(error as Error).message ?? error}`);
    Deno.exit(1); // a stuck case may hold workers and sockets: do not wait for them
  }
}
