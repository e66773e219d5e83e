/**
 * `key=value` arguments of the experiment workloads (`scale=0.01 threads=4 seed=7`), checked
 * with an error that names the argument and what it must be.
 *
 * @module
 */

/** How one numeric argument is checked. */
export interface NumberArg {
  /** Value when the argument is absent. */
  default: number;
  /** Smallest allowed value. */
  min: number;
  /** Largest allowed value. */
  max: number;
  /** Whether only integers are allowed. */
  integer?: boolean;
}

/**
 * Parses `args` (each `key=value`) against `spec`; throws a `RangeError` naming the
 * argument for an unknown key, a malformed pair, a non-number or a value out of range.
 *
 * @example
 * ```ts
 * import { parseWorkloadArgs } from "./_args.ts";
 * const a = parseWorkloadArgs(["threads=2"], {
 *   threads: { default: 4, min: 1, max: 64, integer: true },
 *   scale: { default: 1, min: 1e-6, max: 4 },
 * });
 * console.assert(a.threads === 2 && a.scale === 1);
 * ```
 */
export function parseWorkloadArgs<K extends string>(
  args: readonly string[],
  spec: Record<K, NumberArg>,
): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const key of Object.keys(spec) as K[]) out[key] = spec[key].default;
  const known = Object.keys(spec).join(", ");
  for (const arg of args) {
    const eq = arg.indexOf("=");
    if (eq <= 0) throw new RangeError(`argument "${arg}" is not key=value (keys: ${known})`);
    const key = arg.slice(0, eq) as K;
    if (!Object.hasOwn(spec, key)) {
      throw new RangeError(`unknown argument "${key}" (keys: ${known})`);
    }
    const text = arg.slice(eq + 1);
    const value = Number(text);
    const { min, max, integer } = spec[key];
    if (text.trim() === "" || !Number.isFinite(value)) {
      throw new RangeError(`argument ${key} must be a number, got "${text}"`);
    }
    if ((integer && !Number.isInteger(value)) || value < min || value > max) {
      throw new RangeError(
        `argument ${key} must be ${
          integer ? "an integer" : "a number"
        } in ${min}..${max}, got ${text}`,
      );
    }
    out[key] = value;
  }
  return out;
}

/**
 * A seeded 32-bit generator (mulberry32) yielding numbers in [0, 1): the workloads' only
 * source of randomness, so one seed fixes their data and choices.
 *
 * @example
 * ```ts
 * import { seeded } from "./_args.ts";
 * console.assert(seeded(3)() === seeded(3)());
 * ```
 */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes integers into one 32-bit seed (so thread t of seed s gets its own stream). */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** What a workload declares it computed: floating-point operations and bytes touched. */
export interface Work {
  /** Floating-point operations. */
  flops: number;
  /** Bytes read and written over data already in the cache. */
  bytes: number;
}

/** The part of the process API {@link declareWork} needs. */
export interface Computes {
  /** Charges declared work to the thread's model clock through the CPU's roofline. */
  compute(work: { flops?: number; bytes?: number }): void;
}

/**
 * Declares `work` to the model clock (`proc.compute`): the emulated CPU's roofline turns
 * it into model time, so host speed never enters the result.
 *
 * @example
 * ```ts
 * import { declareWork } from "./_args.ts";
 * let seen = 0;
 * declareWork({ compute: (w) => seen = w.flops ?? 0 }, { flops: 10, bytes: 4 });
 * console.assert(seen === 10);
 * ```
 */
export function declareWork(proc: Computes, work: Work): void {
  proc.compute(work);
}
