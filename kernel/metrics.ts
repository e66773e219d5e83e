/**
 * Metrics: counters, gauges and histograms, exported as plain JSON or as Prometheus
 * exposition text for the control plane.
 *
 * Asking for the same name and labels twice returns the same instrument, so a component
 * can look its instruments up where it uses them. Names and label names are checked
 * against Prometheus rules when first used, not when scraped.
 *
 * @example
 * ```ts
 * import { MetricsRegistry } from "./metrics.ts";
 * const metrics = new MetricsRegistry();
 * metrics.counter("excache_misses_total", "ExCache misses", { component: "p0" }).inc();
 * metrics.histogram("rpc_latency_ns", "RPC round trip", { buckets: [1000, 10000] })
 *   .observe(6520);
 * console.assert(metrics.toPrometheus().includes('excache_misses_total{component="p0"} 1'));
 * ```
 *
 * @module
 */

import { KernelError } from "./errors.ts";

/** Label names to values; values are rendered with `String()`. */
export type Labels = Readonly<Record<string, string | number | boolean>>;

/** The three instrument types. */
export type MetricType = "counter" | "gauge" | "histogram";

/** A number that only goes up: events, bytes, nanoseconds spent. */
export interface Counter {
  /** Adds `n` (default 1; must be finite and >= 0). */
  inc(n?: number): void;
  /** The current total. */
  readonly value: number;
}

/** A number that goes up and down: queue depth, free frames, threads. */
export interface Gauge {
  /** Sets the value. */
  set(value: number): void;
  /** Adds `n` (default 1). */
  inc(n?: number): void;
  /** Subtracts `n` (default 1). */
  dec(n?: number): void;
  /** The current value. */
  readonly value: number;
}

/** One histogram bucket: how many observations were `<= le`. */
export interface HistogramBucket {
  /** Upper bound, inclusive. */
  le: number;
  /** Observations `<= le` (cumulative, as Prometheus counts them). */
  count: number;
}

/** A distribution of observations, e.g. latencies in nanoseconds. */
export interface Histogram {
  /** Records one observation. */
  observe(value: number): void;
  /** How many observations (the `+Inf` bucket). */
  readonly count: number;
  /** Sum of all observations. */
  readonly sum: number;
  /** A snapshot of the finite buckets, cumulative counts, ascending `le`. */
  readonly buckets: HistogramBucket[];
}

/** Options of a histogram. */
export interface HistogramOptions {
  /** Finite upper bounds, strictly increasing (default {@link DEFAULT_NS_BUCKETS}). */
  buckets?: readonly number[];
}

/** One labelled series in a {@link MetricSnapshot}. */
export interface SeriesSnapshot {
  /** Its labels, values as strings. */
  labels: Record<string, string>;
  /** Counter or gauge value. */
  value?: number;
  /** Histogram observation count. */
  count?: number;
  /** Histogram observation sum. */
  sum?: number;
  /** Histogram finite buckets, cumulative. */
  buckets?: HistogramBucket[];
}

/** One metric family as plain JSON. */
export interface MetricSnapshot {
  /** Metric name. */
  name: string;
  /** Instrument type. */
  type: MetricType;
  /** Help text. */
  help: string;
  /** Every labelled series, in creation order. */
  series: SeriesSnapshot[];
}

/**
 * `count` bounds starting at `start`, each `factor` times the previous.
 *
 * @example
 * ```ts
 * import { exponentialBuckets } from "./metrics.ts";
 * console.assert(exponentialBuckets(100, 10, 3).join() === "100,1000,10000");
 * ```
 */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  if (!(start > 0) || !(factor > 1) || !Number.isInteger(count) || count < 1) {
    throw new KernelError("EINVAL", "exponentialBuckets needs start > 0, factor > 1, count >= 1");
  }
  return Array.from({ length: count }, (_, i) => start * factor ** i);
}

/**
 * Default histogram buckets, in nanoseconds: 1-2.5-5 steps from 100 ns (a DRAM access)
 * to 100 ms, covering cache hits, RPCs, SSD I/O and whole operations.
 *
 * @example
 * ```ts
 * import { DEFAULT_NS_BUCKETS } from "./metrics.ts";
 * console.assert(DEFAULT_NS_BUCKETS[0] === 100 && DEFAULT_NS_BUCKETS.at(-1) === 1e8);
 * ```
 */
export const DEFAULT_NS_BUCKETS: readonly number[] = Object.freeze(
  exponentialBuckets(100, 10, 7).flatMap((d) => d === 1e8 ? [d] : [d, d * 2.5, d * 5]),
);

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function invalid(message: string): KernelError {
  return new KernelError("EINVAL", message);
}

function checkNumber(value: number, what: string): number {
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw invalid(`${what} must be a number, got ${value}`);
  }
  return value;
}

/** Label values as strings, names checked, in a canonical (sorted) order. */
function normalizeLabels(
  name: string,
  type: MetricType,
  labels: Labels,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(labels).sort()) {
    if (!LABEL_NAME.test(key) || key.startsWith("__")) {
      throw invalid(`metric "${name}": bad label name "${key}" (use [a-zA-Z_][a-zA-Z0-9_]*)`);
    }
    if (type === "histogram" && key === "le") {
      throw invalid(`metric "${name}": label "le" is reserved for histogram buckets`);
    }
    out[key] = String(labels[key]);
  }
  return out;
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function formatLabels(labels: Record<string, string>, extra?: [string, string]): string {
  const pairs = Object.entries(labels);
  if (extra) pairs.push(extra);
  if (pairs.length === 0) return "";
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`;
}

class CounterImpl implements Counter {
  value = 0;
  constructor(readonly name: string) {}
  inc(n = 1): void {
    if (checkNumber(n, `counter "${this.name}" increment`) < 0 || n === Infinity) {
      throw invalid(`counter "${this.name}" can only go up by a finite amount, got ${n}`);
    }
    this.value += n;
  }
}

class GaugeImpl implements Gauge {
  value = 0;
  constructor(readonly name: string) {}
  set(value: number): void {
    this.value = checkNumber(value, `gauge "${this.name}" value`);
  }
  inc(n = 1): void {
    this.value += checkNumber(n, `gauge "${this.name}" increment`);
  }
  dec(n = 1): void {
    this.value -= checkNumber(n, `gauge "${this.name}" decrement`);
  }
}

class HistogramImpl implements Histogram {
  count = 0;
  sum = 0;
  readonly #bounds: readonly number[];
  readonly #counts: number[]; // per bucket, not cumulative; cumulated on read
  constructor(readonly name: string, bounds: readonly number[]) {
    this.#bounds = bounds;
    this.#counts = new Array(bounds.length).fill(0);
  }
  observe(value: number): void {
    checkNumber(value, `histogram "${this.name}" observation`);
    this.count++;
    this.sum += value;
    // Few buckets (about 20): a linear scan beats a binary search in practice.
    for (let i = 0; i < this.#bounds.length; i++) {
      if (value <= this.#bounds[i]) {
        this.#counts[i]++;
        return;
      }
    }
  }
  get buckets(): HistogramBucket[] {
    let cumulative = 0;
    return this.#bounds.map((le, i) => ({ le, count: cumulative += this.#counts[i] }));
  }
}

type Instrument = CounterImpl | GaugeImpl | HistogramImpl;

interface Family {
  type: MetricType;
  help: string;
  bounds?: readonly number[];
  series: Map<string, { labels: Record<string, string>; instrument: Instrument }>;
}

/**
 * All metrics of a process (or a cluster booted in one process).
 *
 * @example
 * ```ts
 * import { MetricsRegistry } from "./metrics.ts";
 * const metrics = new MetricsRegistry();
 * const a = metrics.gauge("free_frames", "Free DRAM frames", { component: "m0" });
 * a.set(10);
 * metrics.gauge("free_frames", "Free DRAM frames", { component: "m0" }).dec();
 * console.assert(a.value === 9);
 * ```
 */
export class MetricsRegistry {
  readonly #families = new Map<string, Family>();

  #instrument(
    name: string,
    help: string,
    type: MetricType,
    labels: Labels,
    make: () => Instrument,
    bounds?: readonly number[],
  ): Instrument {
    if (typeof name !== "string" || !METRIC_NAME.test(name)) {
      throw invalid(`bad metric name ${JSON.stringify(name)} (use [a-zA-Z_:][a-zA-Z0-9_:]*)`);
    }
    let family = this.#families.get(name);
    if (!family) {
      family = { type, help, bounds, series: new Map() };
      this.#families.set(name, family);
    } else if (family.type !== type) {
      throw invalid(`metric "${name}" is already a ${family.type}, cannot use it as a ${type}`);
    } else if (bounds && String(family.bounds) !== String(bounds)) {
      throw invalid(
        `histogram "${name}" already has buckets [${family.bounds}], not [${bounds}]`,
      );
    }
    const normalized = normalizeLabels(name, type, labels);
    const key = JSON.stringify(normalized);
    let entry = family.series.get(key);
    if (!entry) {
      entry = { labels: normalized, instrument: make() };
      family.series.set(key, entry);
    }
    return entry.instrument;
  }

  /** The counter `name` with `labels`, created on first use. */
  counter(name: string, help: string, labels: Labels = {}): Counter {
    return this.#instrument(name, help, "counter", labels, () => new CounterImpl(name)) as Counter;
  }

  /** The gauge `name` with `labels`, created on first use. */
  gauge(name: string, help: string, labels: Labels = {}): Gauge {
    return this.#instrument(name, help, "gauge", labels, () => new GaugeImpl(name)) as Gauge;
  }

  /**
   * The histogram `name` with `labels`, created on first use. Every series of one name
   * shares the same buckets; asking with different buckets is an error.
   */
  histogram(
    name: string,
    help: string,
    options: HistogramOptions = {},
    labels: Labels = {},
  ): Histogram {
    const bounds = options.buckets ?? DEFAULT_NS_BUCKETS;
    bounds.forEach((b, i) => {
      if (!Number.isFinite(b) || (i > 0 && b <= bounds[i - 1])) {
        throw invalid(
          `histogram "${name}": buckets must be finite and strictly increasing, got [${bounds}]`,
        );
      }
    });
    return this.#instrument(
      name,
      help,
      "histogram",
      labels,
      () => new HistogramImpl(name, Object.freeze([...bounds])),
      bounds,
    ) as Histogram;
  }

  /** Every metric as plain JSON, families in creation order. */
  snapshot(): MetricSnapshot[] {
    return [...this.#families].map(([name, family]) => ({
      name,
      type: family.type,
      help: family.help,
      series: [...family.series.values()].map(({ labels, instrument }) =>
        instrument instanceof HistogramImpl
          ? {
            labels: { ...labels },
            count: instrument.count,
            sum: instrument.sum,
            buckets: instrument.buckets,
          }
          : { labels: { ...labels }, value: instrument.value }
      ),
    }));
  }

  /**
   * Every metric in the Prometheus text exposition format (version 0.0.4): `# HELP` and
   * `# TYPE` lines, then one line per series; histograms as `_bucket{le="..."}` lines
   * ending with `+Inf`, then `_sum` and `_count`.
   */
  toPrometheus(): string {
    const lines: string[] = [];
    for (const [name, family] of this.#families) {
      lines.push(`# HELP ${name} ${escapeHelp(family.help)}`, `# TYPE ${name} ${family.type}`);
      for (const { labels, instrument } of family.series.values()) {
        if (instrument instanceof HistogramImpl) {
          for (const { le, count } of instrument.buckets) {
            lines.push(`${name}_bucket${formatLabels(labels, ["le", formatNumber(le)])} ${count}`);
          }
          lines.push(
            `${name}_bucket${formatLabels(labels, ["le", "+Inf"])} ${instrument.count}`,
            `${name}_sum${formatLabels(labels)} ${formatNumber(instrument.sum)}`,
            `${name}_count${formatLabels(labels)} ${instrument.count}`,
          );
        } else {
          lines.push(`${name}${formatLabels(labels)} ${formatNumber(instrument.value)}`);
        }
      }
    }
    return lines.length ? lines.join("\n") + "\n" : "";
  }
}
