/**
 * Clocks: wall time (what the emulator really costs) and model time (what the emulated
 * hardware would take).
 *
 * Every component is handed a {@link Clock} rather than reading the time itself, so a
 * test or a simulation can substitute its own. Times are nanoseconds as plain numbers:
 * a double holds integers exactly up to 2^53 ns, about 104 days.
 *
 * @module
 */

import { KernelError } from "./errors.ts";

/**
 * A source of time in nanoseconds from some fixed origin.
 *
 * @example
 * ```ts
 * import type { Clock } from "./clock.ts";
 * const frozen: Clock = { nowNs: () => 42 };
 * console.assert(frozen.nowNs() === 42);
 * ```
 */
export interface Clock {
  /** Nanoseconds since this clock's origin; never decreases. */
  nowNs(): number;
}

/**
 * Real elapsed time since the clock was created, from `performance.now()` (so its
 * resolution is whatever the runtime grants, often microseconds).
 *
 * @example
 * ```ts
 * import { WallClock } from "./clock.ts";
 * const clock = new WallClock();
 * const t0 = clock.nowNs();
 * console.assert(clock.nowNs() >= t0 && t0 >= 0);
 * ```
 */
export class WallClock implements Clock {
  readonly #originMs = performance.now();

  /** Nanoseconds since construction. */
  nowNs(): number {
    return Math.round((performance.now() - this.#originMs) * 1e6);
  }
}

/**
 * Model time: it moves only when the emulator charges a modeled cost with
 * {@link ModelClock.advance}. Threads that run in parallel on emulated hardware each get
 * their own clock from {@link ModelClock.fork} and join with {@link ModelClock.advanceTo}
 * (the join happens when the slowest has finished).
 *
 * @example
 * ```ts
 * import { ModelClock } from "./clock.ts";
 * const clock = new ModelClock();
 * clock.advance(6_520); // one 4 KiB RPC
 * const thread = clock.fork();
 * thread.advance(1_000);
 * clock.advanceTo(thread.nowNs());
 * console.assert(clock.nowNs() === 7_520);
 * ```
 */
export class ModelClock implements Clock {
  #now: number;

  /** Creates a clock reading `startNs` (default 0). */
  constructor(startNs = 0) {
    this.#now = checkNs(startNs, "startNs");
  }

  /** Current model time in nanoseconds. */
  nowNs(): number {
    return this.#now;
  }

  /**
   * Moves time forward by `ns` and returns the new time. Throws `EINVAL` for a negative,
   * NaN or infinite `ns`: a modeled cost is never negative, and silently accepting NaN
   * would poison every later reading.
   */
  advance(ns: number): number {
    this.#now += checkNs(ns, "ns");
    return this.#now;
  }

  /** Moves time forward to `ns` if that is later (a join); returns the new time. */
  advanceTo(ns: number): number {
    this.#now = Math.max(this.#now, checkNs(ns, "ns"));
    return this.#now;
  }

  /** A new, independent clock starting at this clock's current time. */
  fork(): ModelClock {
    return new ModelClock(this.#now);
  }
}

function checkNs(ns: number, what: string): number {
  if (typeof ns !== "number" || !Number.isFinite(ns) || ns < 0) {
    throw new KernelError("EINVAL", `${what} must be a finite number >= 0, got ${ns}`);
  }
  return ns;
}
