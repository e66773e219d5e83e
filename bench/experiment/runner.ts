/**
 * One run of the experiment: boots a cluster in this process configured as one system
 * (LegoOS: a processor with an ExCache and no pager; a Linux machine: a processor whose
 * cache is its DRAM, with Linux reclaim and a swap pager), runs the workload to the end
 * and returns both clocks and every counter.
 *
 * @module
 */

import { type ClusterConfigInput, createStockRegistry, startCluster } from "../../mod.ts";
import { baselineProcessor } from "../../plugins/baselines/mod.ts";
import {
  CHUNK_BYTES,
  inputPath,
  textBytesFor,
  textChunk,
} from "../../examples/workloads/wordcount.ts";
import { REFERENCE, type SystemName } from "./paper.ts";
import type { ExperimentWorkload } from "./workloads.ts";

const PAGE = 4096;
/** Ways of the LegoOS ExCache (the paper's default, A1). */
export const LEGOOS_WAYS = 64;
/** Ways of a Linux machine's page lists (Linux's are global; more ways come closer). */
export const LINUX_WAYS = 512;

/** A system of the experiment, or the all-local reference. */
export type RunSystem = SystemName | typeof REFERENCE;

/** A model variant for the sensitivity study. */
export type Variant = "base" | "compute x0.5" | "compute x2" | "rpc x0.5" | "rpc x2";

/** Every variant, base first. */
export const VARIANTS: readonly Variant[] = [
  "base",
  "compute x0.5",
  "compute x2",
  "rpc x0.5",
  "rpc x2",
];

/** What one run is. */
export interface RunSpec {
  /** The workload. */
  workload: ExperimentWorkload;
  /** The system. */
  system: RunSystem;
  /** Cache (local memory) size [bytes]. */
  cacheBytes: number;
  /** Workload scale (1 = the paper's working set). */
  scale: number;
  /** Threads. */
  threads: number;
  /** Seed of the workload, and of the cluster's deterministic mode when that is on. */
  seed: number;
  /**
   * Deterministic mode (default on): threads reach the system in model-time order, ties
   * ordered by `seed`, so one seed gives one run — the same counters and model time.
   */
  deterministic?: boolean;
  /** Model variant. */
  variant: Variant;
  /** Latency-model options of this variant. */
  latencyOptions: Record<string, unknown>;
  /** Directory for the run's storage root (made and removed by the run). */
  tmpDir: string;
  /** Called with the number of threads started so far. */
  onThreads?: (started: number) => void;
}

/** What one run produced. */
export interface RunRecord {
  /** The system. */
  system: RunSystem;
  /** Cache size asked for [bytes]. */
  cacheBytes: number;
  /** Seed. */
  seed: number;
  /** Model variant. */
  variant: Variant;
  /** The process's exit code (0 = the workload checked its own result). */
  exitCode: number;
  /** The process's error, if it failed. */
  error?: string;
  /** Model time of the process [ns]. */
  modelNs: number;
  /** Wall time of the process [ns]. */
  wallNs: number;
  /** The process's counters (hits, misses, evictions, faults, bytes, per-thread clocks ...). */
  counters: Record<string, number>;
  /** The processor's totals, with the pager's counters (`pager.*`) on a Linux machine. */
  processor: Record<string, unknown>;
}

/**
 * Processor options of `system` with `cacheBytes` of cache (whole pages), with as many ways
 * as divide its lines, up to the system's.
 *
 * @example
 * ```ts
 * import { processorOptionsFor } from "./runner.ts";
 * console.assert(processorOptionsFor("legoos", 1 << 27).ways === 64);
 * console.assert(processorOptionsFor("linux-ssd", 1 << 27).pager === "linux-swap");
 * ```
 */
export function processorOptionsFor(
  system: RunSystem,
  cacheBytes: number,
): Record<string, unknown> {
  const lines = Math.max(1, Math.floor(cacheBytes / PAGE));
  // The most ways (up to the system's) that divide the lines, so the size stays exact.
  let ways = system === "legoos" ? LEGOOS_WAYS : LINUX_WAYS;
  while (ways > 1 && lines % ways !== 0) ways >>= 1;
  const bytes = lines * PAGE;
  switch (system) {
    case "legoos":
      return { cacheBytes: bytes, ways, replacement: "lru" };
    case "linux-ssd":
      return baselineProcessor("ssd", bytes, ways);
    case "linux-ramdisk":
      return baselineProcessor("ramdisk", bytes, ways);
    case "linux-infiniswap":
      return baselineProcessor("infiniswap", bytes, ways);
    case REFERENCE:
      return baselineProcessor("none", bytes, ways);
    default:
      throw new RangeError(`unknown system "${system}"`);
  }
}

/**
 * Latency-model options for `variant`: the compute roofline or the RPC curve scaled, or
 * `undefined` when the model has no such constant (then the variant cannot run).
 */
export function latencyOptionsFor(variant: Variant): Record<string, unknown> | undefined {
  if (variant === "base") return {};
  const defaults = createStockRegistry().parseOptions("latency-model", "legoos-ib", {}) as
    & Record<string, unknown>
    & { rpcPoints: { bytes: number; ns: number }[] };
  const factor = variant.endsWith("x0.5") ? 0.5 : 2;
  if (variant.startsWith("rpc")) {
    return { rpcPoints: defaults.rpcPoints.map((p) => ({ bytes: p.bytes, ns: p.ns * factor })) };
  }
  // The whole roofline of the emulated core, FLOP rate and bandwidth together.
  const flops = defaults.cpuFlopsPerCycle;
  const bandwidth = defaults.cpuSocketBandwidthGBps;
  if (typeof flops !== "number" || typeof bandwidth !== "number") return undefined;
  return { cpuFlopsPerCycle: flops * factor, cpuSocketBandwidthGBps: bandwidth * factor };
}

/** Writes the word-count input into `root` (so the run does not spend time writing it). */
async function prepareInput(spec: RunSpec, root: string): Promise<void> {
  if (spec.workload.name !== "wordcount") return;
  const bytes = textBytesFor(spec.scale, spec.threads);
  const path = `${root}/${inputPath(spec.seed, bytes)}`;
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  const cache = `${spec.tmpDir}/../wordcount-cache/${inputPath(spec.seed, bytes)}`;
  try {
    await Deno.link(cache, path);
    return;
  } catch { /* not cached yet */ }
  await Deno.mkdir(cache.slice(0, cache.lastIndexOf("/")), { recursive: true });
  const partial = `${cache}.${crypto.randomUUID()}.part`;
  const file = await Deno.open(partial, { write: true, create: true, truncate: true });
  try {
    for (let chunk = 0; chunk * CHUNK_BYTES < bytes; chunk++) {
      await file.write(textChunk(spec.seed, chunk));
    }
  } finally {
    file.close();
  }
  await Deno.rename(partial, cache);
  await Deno.link(cache, path);
}

/**
 * Runs `spec` to the end on a fresh in-process cluster.
 *
 * @example
 * ```ts ignore
 * const record = await runOnce({ workload: WORKLOADS.cnn, system: "legoos", ... });
 * ```
 */
export async function runOnce(spec: RunSpec): Promise<RunRecord> {
  const root = `${spec.tmpDir}/${crypto.randomUUID()}`;
  await Deno.mkdir(root, { recursive: true });
  await prepareInput(spec, root);
  const workingSet = spec.workload.fullWorkingSetBytes * spec.scale;
  const config: ClusterConfigInput = {
    name: `experiment-${spec.system}`,
    transport: { plugin: "memory" },
    ...(spec.deterministic === false ? {} : { seed: spec.seed }),
    latencyModel: { plugin: "legoos-ib", options: spec.latencyOptions },
    components: [
      { id: "gm", role: "manager" },
      { id: "p0", role: "processor", options: processorOptionsFor(spec.system, spec.cacheBytes) },
      {
        id: "m0",
        role: "memory",
        options: { dramBytes: Math.ceil((2 * workingSet + 64 * 2 ** 20) / PAGE) * PAGE },
      },
      { id: "s0", role: "storage", options: { root } },
    ],
  };
  const logs: string[] = [];
  const cluster = await startCluster(config, {
    log: (component, message) => logs.push(`[${component}] ${message}`),
  });
  let started = 0;
  const stop = cluster.events.subscribe(() => spec.onThreads?.(++started), {
    type: "thread.start",
  });
  try {
    const result = await cluster.run(
      spec.workload.url,
      spec.workload.args(spec.scale, spec.threads, spec.seed),
      { threads: spec.threads },
    );
    const processor = cluster.stats()[result.processor] ?? {};
    return {
      system: spec.system,
      cacheBytes: spec.cacheBytes,
      seed: spec.seed,
      variant: spec.variant,
      exitCode: result.exitCode,
      ...(result.exitCode !== 0
        ? {
          error: `${result.error ?? "exit code " + result.exitCode}\n${logs.slice(-5).join("\n")}`,
        }
        : {}),
      modelNs: result.modelNs,
      wallNs: result.wallNs,
      counters: { ...result.stats },
      processor,
    };
  } finally {
    stop();
    await cluster.stop();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}
