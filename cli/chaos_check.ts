/**
 * The checking half of `deno task chaos`: what the chaos workload
 * (`examples/workloads/chaos_writer.ts`) reported, collected from its log lines as they
 * arrive (so they survive whatever is killed later), and the verdict on one trial —
 * acknowledged writes, the acknowledged ones that did not read back intact (lost), and
 * the recovery time. Pure: no processes, no files.
 *
 * @module
 */

import { CHAOS_PREFIX, type RecordKind } from "../examples/workloads/chaos_writer.ts";

/** One acknowledged write: when the attempt that succeeded began and when its sync returned. */
export interface Acknowledgement {
  /** Epoch ms when the successful attempt began. */
  began: number;
  /** Epoch ms when its `msync`/`fsync` returned. */
  ended: number;
}

/** Everything the workload reported in one trial. */
export class ChaosLog {
  /** Acknowledged writes by `kind:thread:seq`. */
  readonly acks: Map<string, Acknowledgement> = new Map();
  /** Read-back reports, by `kind:thread`: the records that were not intact. */
  readonly readback: Map<string, number[]> = new Map();
  /** Whether the workload finished its read-back. */
  done = false;
  /** Why the workload stopped early (gave up, threw), if it did. */
  failure: string | undefined;
  /** Retries the workload logged (the first failure of each series). */
  retries = 0;
  /** Lines that looked like the workload's but did not parse. */
  readonly garbled: string[] = [];

  /**
   * Takes one output line of the cluster (any component's); returns what it was: `ack`,
   * `done`, `other` (a workload line of another kind) or `undefined` (not the workload's).
   *
   * @example
   * ```ts
   * import { ChaosLog } from "./chaos_check.ts";
   * const log = new ChaosLog();
   * console.assert(log.take("[p0] [pid 1 thread 2] CHAOS ack m 2 17 1000 1004") === "ack");
   * console.assert(log.acks.get("m:2:17")?.ended === 1004);
   * ```
   */
  take(line: string): "ack" | "done" | "other" | undefined {
    const at = line.indexOf(CHAOS_PREFIX);
    if (at < 0) return undefined;
    const words = line.slice(at + CHAOS_PREFIX.length).split(" ");
    switch (words[0]) {
      case "ack": {
        const [kind, thread, seq, began, ended] = words.slice(1);
        if (
          (kind !== "m" && kind !== "f") || ![thread, seq, began, ended].every(isCount)
        ) break;
        this.acks.set(`${kind}:${thread}:${seq}`, { began: Number(began), ended: Number(ended) });
        return "ack";
      }
      case "readback": {
        const [kind, thread, list = ""] = words.slice(1);
        if ((kind !== "m" && kind !== "f") || !isCount(thread)) break;
        const bad = list === "" ? [] : list.split(",");
        if (!bad.every(isCount)) break;
        this.readback.set(`${kind}:${thread}`, bad.map(Number));
        return "other";
      }
      case "done":
        this.done = true;
        return "done";
      case "retry":
        this.retries++;
        return "other";
      case "failed":
      case "gave-up":
      case "error":
        this.failure ??= words.join(" ");
        return "other";
    }
    this.garbled.push(line);
    return "other";
  }
}

function isCount(text: string | undefined): boolean {
  return text !== undefined && /^\d+$/.test(text);
}

/** What a trial's checks found. */
export interface TrialVerdict {
  /** Writes acknowledged. */
  acknowledged: number;
  /** Acknowledged writes that were read back and were not intact. */
  lost: number;
  /** `kind:thread:seq` of up to 10 lost writes, for the report. */
  lostExamples: string[];
  /**
   * Acknowledged writes nobody read back (the workload stopped before its read-back, and
   * for memory there is no other copy to read): neither lost nor shown to survive.
   */
  unverified: number;
  /** Why some writes are unverified, when some are. */
  unverifiedWhy: string | undefined;
}

/**
 * Compares the acknowledged writes of `log` with what was read back: the workload's
 * read-back through the cluster, and `hostBad` (file records found not intact by reading
 * the storage component's files directly, by `kind:thread:seq`; `hostChecked` says that
 * check ran). A write is lost when a read-back that covers it found it not intact.
 *
 * @example
 * ```ts
 * import { ChaosLog, checkTrial } from "./chaos_check.ts";
 * const log = new ChaosLog();
 * log.take("CHAOS ack m 0 0 1 2");
 * log.take("CHAOS ack m 0 1 3 4");
 * log.take("CHAOS readback m 0 1");
 * console.assert(checkTrial(log, new Set(), true).lost === 1);
 * ```
 */
export function checkTrial(
  log: ChaosLog,
  hostBad: ReadonlySet<string>,
  hostChecked: boolean,
): TrialVerdict {
  const bad = new Map<string, Set<number>>();
  for (const [key, seqs] of log.readback) bad.set(key, new Set(seqs));
  const lostKeys: string[] = [];
  const missing = new Set<string>();
  let unverified = 0;
  for (const key of log.acks.keys()) {
    const [kind, thread, seq] = key.split(":");
    const report = bad.get(`${kind}:${thread}`);
    const onHost = kind === "f" && hostChecked;
    if (report?.has(Number(seq)) || (onHost && hostBad.has(key))) lostKeys.push(key);
    else if (!report && !onHost) {
      unverified++;
      missing.add(`${kind}:${thread}`);
    }
  }
  return {
    acknowledged: log.acks.size,
    lost: lostKeys.length,
    lostExamples: lostKeys.slice(0, 10),
    unverified,
    unverifiedWhy: missing.size
      ? `no read-back of ${[...missing].sort().join(", ")}${
        log.failure ? ` (the workload: ${log.failure})` : ""
      }`
      : undefined,
  };
}

/** The recovery point of a trial: which write, and how long after the kill it returned. */
export interface Recovery {
  /** ms from the SIGKILL to the return of the write. */
  ms: number;
  /** The write, `kind:thread:seq`. */
  write: string;
}

/**
 * Recovery of a trial: from `killedAt` (epoch ms, when the SIGKILL was sent) to the return
 * of the first acknowledged write of `kind` whose successful attempt began once the
 * killed process was gone (`deadAt`, when the driver saw it exit) — a write that needed
 * the killed component, so it could only succeed once the cluster had recovered.
 * `undefined` when there was none.
 *
 * @example
 * ```ts
 * import { ChaosLog, recovery } from "./chaos_check.ts";
 * const log = new ChaosLog();
 * log.take("CHAOS ack f 0 0 90 101"); // began before the kill: not a recovery
 * log.take("CHAOS ack f 1 0 180 250");
 * console.assert(recovery(log, "f", 100, 105)?.ms === 150);
 * ```
 */
export function recovery(
  log: ChaosLog,
  kind: RecordKind,
  killedAt: number,
  deadAt: number,
): Recovery | undefined {
  let first: Recovery | undefined;
  for (const [key, ack] of log.acks) {
    if (!key.startsWith(`${kind}:`) || ack.began < deadAt) continue;
    if (first === undefined || ack.ended - killedAt < first.ms) {
      first = { ms: ack.ended - killedAt, write: key };
    }
  }
  return first;
}

/**
 * The `p`-th percentile (0 < p <= 100) of `values` by nearest rank; `null` when empty.
 *
 * @example
 * ```ts
 * import { percentile } from "./chaos_check.ts";
 * console.assert(percentile([3, 1, 2], 50) === 2);
 * console.assert(percentile([], 99) === null);
 * ```
 */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
