/**
 * Failure detection from heartbeats: a component that has been silent for more than
 * `missedHeartbeats` heartbeat periods is declared down; one silent for two periods
 * (when that is still short of down) is reported as suspect first.
 *
 * The detector guards against blaming others for its own stalls: when its sweep runs
 * more than two periods late (the manager's event loop was busy), the heartbeats it
 * needs may be sitting unread in the manager's own receive queue, so that sweep only
 * looks and declares nobody down.
 *
 * @module
 */

import type { ComponentId } from "../../kernel/ids.ts";
import type { ClusterState } from "./cluster_state.ts";

/** Options of a {@link FailureDetector}. */
export interface FailureDetectorOptions {
  /** Heartbeat period, ms. */
  heartbeatMs: number;
  /** Periods of silence after which a component is down. */
  missedHeartbeats: number;
  /** The manager's own id (never swept). */
  self: ComponentId;
  /** Told when a component is declared down, with the periods it missed. */
  onDown(id: ComponentId, missed: number): void;
  /** Told once per silence when a component has missed two periods but is not down yet. */
  onSuspect?(id: ComponentId, missed: number): void;
}

/**
 * Sweeps a {@link ClusterState} once per heartbeat period.
 *
 * @example
 * ```ts
 * import { ClusterState } from "./cluster_state.ts";
 * import { FailureDetector } from "./failure_detector.ts";
 * let now = 0;
 * const state = new ClusterState({ now: () => now });
 * state.join("m0", "memory", {}, {});
 * const down: string[] = [];
 * const detector = new FailureDetector(state, {
 *   heartbeatMs: 10, missedHeartbeats: 3, self: "gm", onDown: (id) => down.push(id),
 * });
 * for (now = 10; now <= 50; now += 10) detector.sweep();
 * console.assert(down.join() === "m0" && state.components.get("m0")?.state === "down");
 * ```
 */
export class FailureDetector {
  readonly #state: ClusterState;
  readonly #options: FailureDetectorOptions;
  readonly #suspected = new Set<ComponentId>();
  #lastSweepAt: number | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Creates a detector over `state`; `start()` sweeps on a timer, `sweep()` by hand. */
  constructor(state: ClusterState, options: FailureDetectorOptions) {
    this.#state = state;
    this.#options = options;
  }

  /** Sweeps every heartbeat period until `stop()`. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#lastSweepAt = this.#state.now();
    this.#timer = setInterval(() => this.sweep(), this.#options.heartbeatMs);
    // Failure detection alone must not keep a finished program alive.
    Deno.unrefTimer(this.#timer);
  }

  /** Stops sweeping. Idempotent. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Checks every component once; returns the ids declared down by this sweep. */
  sweep(): ComponentId[] {
    const { heartbeatMs, missedHeartbeats, self } = this.#options;
    const now = this.#state.now();
    const stalled = this.#lastSweepAt !== undefined && now - this.#lastSweepAt > 2 * heartbeatMs;
    this.#lastSweepAt = now;
    const declared: ComponentId[] = [];
    for (const record of this.#state.components.values()) {
      if (record.id === self) {
        record.lastSeenAt = now;
        continue;
      }
      if (record.state === "down") continue;
      const silentMs = now - record.lastSeenAt;
      if (silentMs < 2 * heartbeatMs) {
        this.#suspected.delete(record.id);
        continue;
      }
      const missed = Math.floor(silentMs / heartbeatMs);
      if (silentMs > missedHeartbeats * heartbeatMs) {
        if (stalled) continue;
        this.#state.markDown(record.id);
        this.#suspected.delete(record.id);
        declared.push(record.id);
        this.#options.onDown(record.id, missed);
      } else if (!this.#suspected.has(record.id)) {
        this.#suspected.add(record.id);
        this.#options.onSuspect?.(record.id, missed);
      }
    }
    return declared;
  }
}
