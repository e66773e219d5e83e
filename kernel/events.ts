/**
 * The cluster event bus: a typed stream of notable happenings (components joining and
 * leaving, processes starting and exiting, placements, faults), kept in a bounded ring
 * buffer for the control plane and pushed to subscribers as they happen.
 *
 * Events are for things a person or a script wants to see, not for the hot path: a
 * cache hit or an ordinary page fetch is a metric, not an event.
 *
 * @example
 * ```ts
 * import { EventBus } from "./events.ts";
 * const bus = new EventBus({ capacity: 100 });
 * const seen: string[] = [];
 * const stop = bus.subscribe((e) => seen.push(e.type), { type: "component.up" });
 * bus.emit("component.up", { component: "m0" });
 * bus.emit("process.start", { data: { pid: 1 } });
 * stop();
 * console.assert(seen.join() === "component.up" && bus.recent().length === 2);
 * ```
 *
 * @module
 */

import { KernelError } from "./errors.ts";
import type { ComponentId } from "./ids.ts";

/**
 * What happened.
 * - `component.up` / `component.down` / `component.suspect`: membership as the global
 *   manager sees it (joined, declared dead, missed heartbeats);
 * - `process.start` / `process.exit`, `thread.start` / `thread.exit`;
 * - `placement`: a manager placed a process, vRegion or file;
 * - `fault`: a bad memory access (segmentation fault) or another error-level fault;
 * - `failover`: a secondary took over from a failed primary;
 * - `cluster.start` / `cluster.stop`;
 * - `custom.<anything>`: for plugins.
 */
export type ClusterEventType =
  | "component.up"
  | "component.down"
  | "component.suspect"
  | "process.start"
  | "process.exit"
  | "thread.start"
  | "thread.exit"
  | "placement"
  | "fault"
  | "failover"
  | "cluster.start"
  | "cluster.stop"
  | `custom.${string}`;

/** One event. Events are frozen: every subscriber sees the same, unchanged object. */
export interface ClusterEvent {
  /** What happened. */
  readonly type: ClusterEventType;
  /** Wall-clock time of emission, epoch milliseconds. */
  readonly at: number;
  /** The component the event is about, if any. */
  readonly component?: ComponentId;
  /** Details, JSON-serialisable. */
  readonly data?: Record<string, unknown>;
  /** Position in the stream: 1 for the first event, then consecutive. */
  readonly seq: number;
}

/** The optional parts of an event, given to {@link EventBus.emit}. */
export interface EventFields {
  /** The component the event is about. */
  component?: ComponentId;
  /** Details, JSON-serialisable. */
  data?: Record<string, unknown>;
}

/** Receives events. */
export type EventListener = (event: ClusterEvent) => void;

/**
 * Which events a subscriber or a query wants: a predicate, or fields that must match
 * (`type` may be one type or several; `component` one id).
 */
export type EventFilter =
  | ((event: ClusterEvent) => boolean)
  | { type?: string | readonly string[]; component?: ComponentId };

/** Options of an {@link EventBus}. */
export interface EventBusOptions {
  /** How many recent events to keep (default 1000). */
  capacity?: number;
  /** Epoch-milliseconds clock for `at` (default `Date.now`). */
  now?: () => number;
  /** Called when a listener throws (default: `console.error`). Must not throw itself. */
  onListenerError?: (error: unknown, event: ClusterEvent) => void;
}

/** Options of {@link EventBus.recent}. */
export interface RecentOptions {
  /** Only events with `seq` greater than this (for polling: pass the last seq seen). */
  afterSeq?: number;
  /**
   * At most this many: the oldest ones after `afterSeq` when it is given (so a poller
   * pages forward), otherwise the newest ones.
   */
  limit?: number;
  /** Only events of this type. */
  type?: string;
}

function compileFilter(filter: EventFilter | undefined): (event: ClusterEvent) => boolean {
  if (filter === undefined) return () => true;
  if (typeof filter === "function") return filter;
  const types = typeof filter.type === "string" ? [filter.type] : filter.type;
  const { component } = filter;
  return (e) =>
    (types === undefined || types.includes(e.type)) &&
    (component === undefined || e.component === component);
}

/**
 * Publishes {@link ClusterEvent}s to subscribers and keeps the last `capacity` of them.
 * A listener that throws is reported through `onListenerError` and does not stop the
 * emit or the other listeners.
 *
 * @example
 * ```ts
 * import { EventBus } from "./events.ts";
 * const bus = new EventBus({ capacity: 2, now: () => 0 });
 * for (const pid of [1, 2, 3]) bus.emit("process.exit", { data: { pid } });
 * console.assert(bus.recent().map((e) => e.seq).join() === "2,3");
 * console.assert(bus.recent({ afterSeq: 2 })[0].data?.pid === 3);
 * ```
 */
export class EventBus {
  readonly #ring: (ClusterEvent | undefined)[];
  #next = 0; // ring slot of the next event
  #seq = 0;
  readonly #listeners = new Set<
    { listener: EventListener; accepts: (e: ClusterEvent) => boolean }
  >();
  readonly #now: () => number;
  readonly #onListenerError: (error: unknown, event: ClusterEvent) => void;

  /** Creates a bus; see {@link EventBusOptions}. */
  constructor(options: EventBusOptions = {}) {
    const capacity = options.capacity ?? 1000;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new KernelError("EINVAL", `event capacity must be an integer >= 1, got ${capacity}`);
    }
    this.#ring = new Array(capacity);
    this.#now = options.now ?? Date.now;
    this.#onListenerError = options.onListenerError ??
      ((error, event) => console.error(`event listener failed on ${event.type}:`, error));
  }

  /** How many events the bus keeps. */
  get capacity(): number {
    return this.#ring.length;
  }

  /** The `seq` of the latest event, 0 before the first. */
  get lastSeq(): number {
    return this.#seq;
  }

  /** Records an event of `type` and delivers it to matching subscribers; returns it. */
  emit(type: ClusterEventType, fields: EventFields = {}): ClusterEvent {
    const event: ClusterEvent = Object.freeze({
      type,
      at: this.#now(),
      ...(fields.component === undefined ? {} : { component: fields.component }),
      ...(fields.data === undefined ? {} : { data: Object.freeze({ ...fields.data }) }),
      seq: ++this.#seq,
    });
    this.#ring[this.#next] = event;
    this.#next = (this.#next + 1) % this.#ring.length;
    // A copy, so a listener may unsubscribe (itself or another) during delivery.
    for (const entry of [...this.#listeners]) {
      try {
        if (entry.accepts(event)) entry.listener(event);
      } catch (error) {
        try {
          this.#onListenerError(error, event);
        } catch {
          // The error reporter failed too; there is nowhere left to report it.
        }
      }
    }
    return event;
  }

  /**
   * Calls `listener` for every later event that passes `filter`. Returns a function that
   * unsubscribes (calling it twice is harmless).
   */
  subscribe(listener: EventListener, filter?: EventFilter): () => void {
    const entry = { listener, accepts: compileFilter(filter) };
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  /** Kept events in `seq` order, narrowed by `options` (see {@link RecentOptions}). */
  recent(options: RecentOptions = {}): ClusterEvent[] {
    const { afterSeq = 0, limit, type } = options;
    const out: ClusterEvent[] = [];
    const size = this.#ring.length;
    for (let i = 0; i < size; i++) {
      const event = this.#ring[(this.#next + i) % size];
      if (event && event.seq > afterSeq && (type === undefined || event.type === type)) {
        out.push(event);
      }
    }
    if (limit === undefined || out.length <= limit) return out;
    const n = Math.max(0, Math.floor(limit));
    return options.afterSeq === undefined ? out.slice(out.length - n) : out.slice(0, n);
  }
}
