/**
 * `deno task chaos [--trials N] [--seed S] [--out FILE]`: kills components of a running
 * cluster of real OS processes over TCP with SIGKILL and checks LegoOS's promise — no
 * acknowledged write is lost — and how long the cluster takes to serve again.
 *
 * Each trial (see `cli/chaos_trial.ts`) boots a fresh supervised cluster, runs the
 * 4-thread chaos write workload (`examples/workloads/chaos_writer.ts`), kills the
 * scenario's component after a number of acknowledged writes drawn from the trial's
 * seed, restarts it when the scenario says so, and, once the workload has read every
 * record back, counts the acknowledged writes that did not read back intact.
 *
 * Recovery time, per trial: from the moment the SIGKILL is sent to the return of the
 * first acknowledged write that needs the killed component and whose successful attempt
 * began after the killed process was gone (the driver saw it exit) (a memory record's `msync` for `memory` and `manager` — each
 * memory record is in a vRegion of its own, so its first write-back asks the manager
 * where it lives — a file record's `fsync` for `storage`). It includes detecting the
 * death (failover) or restarting the process (storage, manager), and is at most one
 * write longer than the outage itself.
 *
 * One `--seed` derives every trial's seed; it is printed, with each trial's. A line per
 * trial, then a table; the table's rows go as JSON to `--out` (default
 * `results/chaos.json`). Exit status 0 only when every acknowledged write was read back
 * intact and every trial that ran completed.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createStockRegistry } from "../plugins/stock.ts";
import { percentile } from "./chaos_check.ts";
import {
  HEARTBEAT_MS,
  MISSED_HEARTBEATS,
  runTrial,
  type ScenarioName,
  SCENARIOS,
  scenarioUnavailable,
  type TrialResult,
} from "./chaos_trial.ts";

const HELP = `deno task chaos [options]

  --trials N       trials per scenario (default 20)
  --seed S         seed of the whole run, an integer 0..4294967295 (default 1); every
                   trial's seed is derived from it
  --out FILE       where the table goes as JSON (default results/chaos.json)
  --scenarios LIST of ${SCENARIOS.join(", ")}, comma-separated (default: all)
  --records N      records each of the 4 writer threads writes (2 threads to memory, 2 to
                   files; default 200)
  --merge          keep the rows of other scenarios already in --out (same seed, trials and
                   records): one scenario can be run again, or the scenarios one at a time
  --help           this text
`;

/** One row of the table (and of the JSON). */
export interface ChaosRow {
  /** The scenario. */
  scenario: ScenarioName;
  /** Trials run (0 when skipped). */
  trials: number;
  /** Writes acknowledged, over all trials. */
  acknowledgedWrites: number;
  /** Acknowledged writes that did not read back intact, over all trials. */
  lostWrites: number;
  /** Median recovery time, ms (`null` when none was measured). */
  recoveryMsP50: number | null;
  /** 99th-percentile recovery time, ms (`null` when none was measured). */
  recoveryMsP99: number | null;
  /** Acknowledged writes that were never read back (their trial failed first). */
  unverifiedWrites: number;
  /** Trials that did not complete (no recovery, workload gave up...). */
  failedTrials: number;
  /**
   * Median and 99th percentile of the time from the SIGKILL until the restarted process
   * reported ready, ms (`null` when the scenario restarts nothing): the floor under its
   * recovery, spent starting a Deno process on this machine.
   */
  restartMsP50: number | null;
  /** See {@link ChaosRow.restartMsP50}. */
  restartMsP99: number | null;
  /** The run's seed. */
  seed: number;
  /** Records each writer thread wrote per trial. */
  recordsPerThread: number;
  /** Why the scenario was skipped, if it was. */
  skipped?: string;
}

/** Parsed flags. */
export interface ChaosFlags {
  /** Trials per scenario. */
  trials: number;
  /** The run's seed. */
  seed: number;
  /** JSON output file. */
  out: string;
  /** Scenarios to run. */
  scenarios: ScenarioName[];
  /** Records per writer thread. */
  records: number;
  /** Keep the rows of other scenarios already in `out`. */
  merge: boolean;
}

/** A bad flag: its message is printed as is. */
export class ChaosUsageError extends Error {}

/**
 * Parses the command line; throws a {@link ChaosUsageError} naming the bad flag.
 *
 * @example
 * ```ts
 * import { parseChaosFlags } from "./chaos.ts";
 * const flags = parseChaosFlags(["--trials", "3", "--seed", "9"]);
 * console.assert(flags !== "help" && flags.trials === 3 && flags.seed === 9);
 * console.assert(flags !== "help" && flags.out === "results/chaos.json");
 * ```
 */
export function parseChaosFlags(argv: readonly string[]): ChaosFlags | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        trials: { type: "string" },
        seed: { type: "string" },
        out: { type: "string" },
        scenarios: { type: "string" },
        records: { type: "string" },
        merge: { type: "boolean" },
        help: { type: "boolean" },
      },
      allowPositionals: false,
    }));
  } catch (e) {
    throw new ChaosUsageError(`${(e as Error).message} (see --help)`);
  }
  if (values.help) return "help";
  const integer = (
    flag: string,
    text: string | undefined,
    fallback: number,
    min: number,
    max: number,
  ) => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min || n > max) {
      throw new ChaosUsageError(`--${flag} must be an integer in ${min}..${max}, got "${text}"`);
    }
    return n;
  };
  const scenarios = values.scenarios === undefined
    ? [...SCENARIOS]
    : values.scenarios.split(",").map((name) => {
      if (!(SCENARIOS as readonly string[]).includes(name)) {
        throw new ChaosUsageError(
          `--scenarios: unknown scenario "${name}" (${SCENARIOS.join(", ")})`,
        );
      }
      return name as ScenarioName;
    });
  if (values.out === "") throw new ChaosUsageError("--out needs a file name");
  return {
    trials: integer("trials", values.trials, 20, 1, 100_000),
    seed: integer("seed", values.seed, 1, 0, 0xffffffff),
    out: values.out ?? "results/chaos.json",
    scenarios: [...new Set(scenarios)],
    records: integer("records", values.records, 200, 1, 100_000),
    merge: values.merge === true,
  };
}

/**
 * The seed of trial `trial` of scenario number `scenario` in a run seeded with `seed`.
 *
 * @example
 * ```ts
 * import { trialSeed } from "./chaos.ts";
 * console.assert(trialSeed(1, 0, 0) === trialSeed(1, 0, 0));
 * console.assert(trialSeed(1, 0, 0) !== trialSeed(1, 0, 1));
 * ```
 */
export function trialSeed(seed: number, scenario: number, trial: number): number {
  let h = (seed ^ Math.imul(scenario + 1, 0x9e3779b1) ^ Math.imul(trial + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Folds the trials of one scenario into its row. */
export function summarize(
  scenario: ScenarioName,
  flags: Pick<ChaosFlags, "seed" | "records">,
  results: readonly TrialResult[],
): ChaosRow {
  const recoveries = results.flatMap((r) => r.recoveryMs === undefined ? [] : [r.recoveryMs]);
  const restarts = results.flatMap((r) => r.restartMs === undefined ? [] : [r.restartMs]);
  return {
    scenario,
    trials: results.length,
    acknowledgedWrites: results.reduce((n, r) => n + r.verdict.acknowledged, 0),
    lostWrites: results.reduce((n, r) => n + r.verdict.lost, 0),
    unverifiedWrites: results.reduce((n, r) => n + r.verdict.unverified, 0),
    recoveryMsP50: percentile(recoveries, 50),
    recoveryMsP99: percentile(recoveries, 99),
    failedTrials: results.filter((r) => r.failure !== undefined).length,
    restartMsP50: percentile(restarts, 50),
    restartMsP99: percentile(restarts, 99),
    seed: flags.seed,
    recordsPerThread: flags.records,
  };
}

/** The table the run ends with. */
export function formatTable(rows: readonly ChaosRow[]): string {
  const header = [
    "scenario",
    "trials",
    "acknowledged writes",
    "lost writes",
    "recovery ms p50",
    "recovery ms p99",
    "unverified",
    "failed trials",
    "restart ms p50",
    "restart ms p99",
  ];
  const cells = rows.map((r) =>
    r.skipped ? [r.scenario, "skipped", r.skipped, "", "", "", "", "", "", ""] : [
      r.scenario,
      String(r.trials),
      String(r.acknowledgedWrites),
      String(r.lostWrites),
      r.recoveryMsP50 === null ? "-" : String(r.recoveryMsP50),
      r.recoveryMsP99 === null ? "-" : String(r.recoveryMsP99),
      String(r.unverifiedWrites),
      String(r.failedTrials),
      r.restartMsP50 === null ? "-" : String(r.restartMsP50),
      r.restartMsP99 === null ? "-" : String(r.restartMsP99),
    ]
  );
  const widths = header.map((h, i) =>
    Math.max(h.length, ...cells.filter((c) => c[3] !== "" || i < 2).map((c) => c[i].length))
  );
  const line = (c: string[]) =>
    c[1] === "skipped"
      ? `${c[0].padEnd(widths[0])}  skipped: ${c[2]}`
      : c.map((cell, i) => i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])).join("  ");
  return [line(header), ...cells.map(line)].join("\n");
}

/** One progress line for a finished trial. */
export function formatTrial(r: TrialResult, index: number, trials: number): string {
  const recovery = r.recoveryMs === undefined
    ? "no recovery"
    : `recovery ${r.recoveryMs} ms (${r.recoveryWrite})`;
  const restart = r.restartMs === undefined ? "" : ` (restarted after ${r.restartMs} ms)`;
  return `chaos: ${r.scenario} ${index + 1}/${trials} seed ${r.seed}: SIGKILL ${r.victim} after ` +
    `${r.killedAfterAcks} acks, gone ${
      r.deathMs ?? "?"
    } ms later${restart}; ${r.verdict.acknowledged} acknowledged, ` +
    `${r.verdict.lost} lost${r.verdict.lost ? ` (${r.verdict.lostExamples.join(" ")})` : ""}${
      r.verdict.unverified ? `, ${r.verdict.unverified} unverified` : ""
    }, ${recovery}, ${r.acksDuringOutage} acked meanwhile` +
    (r.failure ? `; FAILED: ${r.failure}` : "");
}

/** What a run needs from its surroundings. */
export interface ChaosIo {
  /** Standard output lines. */
  out: (line: string) => void;
  /** Standard error lines. */
  err: (line: string) => void;
  /** The CLI entry the components run (absolute path of `mod.ts`). */
  entry: string;
  /** Aborting it ends the run after the current trial, which ends early. */
  signal?: AbortSignal;
}

/** Runs the chaos trials of `flags`; resolves with the table's rows. */
export async function runChaos(flags: ChaosFlags, io: ChaosIo): Promise<ChaosRow[]> {
  const registry = createStockRegistry();
  const rows: ChaosRow[] = [];
  for (const scenario of flags.scenarios) {
    const skipped = scenarioUnavailable(scenario, registry);
    if (skipped) {
      io.out(`chaos: ${scenario} scenario SKIPPED: ${skipped}`);
      rows.push({
        scenario,
        trials: 0,
        acknowledgedWrites: 0,
        lostWrites: 0,
        unverifiedWrites: 0,
        recoveryMsP50: null,
        recoveryMsP99: null,
        failedTrials: 0,
        restartMsP50: null,
        restartMsP99: null,
        seed: flags.seed,
        recordsPerThread: flags.records,
        skipped,
      });
      continue;
    }
    const results: TrialResult[] = [];
    const index = SCENARIOS.indexOf(scenario);
    for (let trial = 0; trial < flags.trials && !io.signal?.aborted; trial++) {
      const tail: string[] = [];
      const result = await runTrial({
        scenario,
        seed: trialSeed(flags.seed, index, trial),
        records: flags.records,
        entry: io.entry,
        registry,
        signal: io.signal,
        log: (line) => {
          tail.push(line);
          if (tail.length > 30) tail.shift();
        },
      });
      results.push(result);
      io.out(formatTrial(result, trial, flags.trials));
      if (result.failure) { for (const line of tail) io.err(`  | ${line}`); }
    }
    rows.push(summarize(scenario, flags, results));
    if (io.signal?.aborted) break;
  }
  return rows;
}

async function main(argv: string[]): Promise<number> {
  let flags;
  try {
    flags = parseChaosFlags(argv);
  } catch (e) {
    if (!(e instanceof ChaosUsageError)) throw e;
    console.error(`chaos: ${e.message}`);
    return 2;
  }
  if (flags === "help") {
    console.log(HELP);
    return 0;
  }
  let kept: ChaosRow[] = [];
  try {
    if (flags.merge) kept = await rowsToKeep(flags);
  } catch (e) {
    if (!(e instanceof ChaosUsageError)) throw e;
    console.error(`chaos: ${e.message}`);
    return 2;
  }
  const load = () =>
    Deno.readTextFile("/proc/loadavg").then((t) => t.split(" ").slice(0, 3).join(" "), () => "?");
  console.log(
    `chaos: seed ${flags.seed}, ${flags.trials} trial(s) per scenario (${
      flags.scenarios.join(", ")
    }), ${flags.records} records per thread; load average ${await load()}`,
  );
  const started = performance.now();
  const interrupt = new AbortController();
  const onInterrupt = () => {
    console.error("chaos: interrupted; stopping the current trial's cluster");
    interrupt.abort();
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  let rows;
  try {
    rows = await runChaos(flags, {
      out: (line) => console.log(line),
      err: (line) => console.error(line),
      entry: decodeURIComponent(new URL("../mod.ts", import.meta.url).pathname),
      signal: interrupt.signal,
    });
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
  console.log("");
  console.log(formatTable(rows));
  if (interrupt.signal.aborted) {
    console.log(`chaos: interrupted: ${flags.out} not written`);
    return 130;
  }
  console.log(
    `chaos: seed ${flags.seed}; ${((performance.now() - started) / 1000).toFixed(0)} s; ` +
      `load average ${await load()}; recovery = SIGKILL sent → first acknowledged write that ` +
      `needs the killed component and began after its process was gone`,
  );
  console.log(
    `chaos: floors under recovery: a restart (storage, manager) waits for a new Deno process ` +
      `(restart ms columns); a failover (memory) waits for the manager to declare the primary ` +
      `down, ${MISSED_HEARTBEATS} missed heartbeats of ${HEARTBEAT_MS} ms = ` +
      `${MISSED_HEARTBEATS * HEARTBEAT_MS} ms`,
  );
  await Deno.mkdir(new URL(".", `file://${absolute(flags.out)}`), { recursive: true });
  const order = (r: ChaosRow) => SCENARIOS.indexOf(r.scenario);
  const written = [...kept, ...rows].sort((a, b) => order(a) - order(b));
  await Deno.writeTextFile(flags.out, JSON.stringify(written, null, 2) + "\n");
  console.log(`chaos: wrote ${flags.out}`);
  const ok = rows.every((r) =>
    r.lostWrites === 0 && r.unverifiedWrites === 0 && r.failedTrials === 0
  );
  return ok ? 0 : 1;
}

/**
 * The rows of `flags.out` to keep with `--merge`: those of the scenarios this run does not
 * run, from a run with the same seed, trials and records. Throws naming the mismatch when
 * the file holds rows of another run.
 */
async function rowsToKeep(flags: ChaosFlags): Promise<ChaosRow[]> {
  let old: ChaosRow[];
  try {
    old = JSON.parse(await Deno.readTextFile(flags.out));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw new ChaosUsageError(`--merge: cannot read ${flags.out}: ${(e as Error).message}`);
  }
  if (!Array.isArray(old)) throw new ChaosUsageError(`--merge: ${flags.out} is not an array`);
  const kept = old.filter((r) => !flags.scenarios.includes(r.scenario));
  for (const r of kept) {
    const trials = r.skipped ? flags.trials : r.trials;
    if (r.seed !== flags.seed || trials !== flags.trials || r.recordsPerThread !== flags.records) {
      throw new ChaosUsageError(
        `--merge: ${flags.out} has ${r.scenario} from another run (seed ${r.seed}, ${r.trials} ` +
          `trials, ${r.recordsPerThread} records); run it again with the same flags`,
      );
    }
  }
  return kept;
}

function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
