/**
 * Deterministic mode: the emulated threads of a cluster reach the system (a miss, a fault,
 * a system call) in model-time order, so that one seed fixes the whole run.
 *
 * Conservative, as a parallel discrete-event simulator is: a thread that arrives at an
 * event waits until every running thread of the cluster has reached its own next event
 * (or ended, or is parked waiting for another thread); then the earliest event in model
 * time is served, ties broken by a fixed order that the seed chooses. While it is served,
 * nobody else is; when it is done, its thread runs again until its next event. Between
 * events a thread runs freely (hits stay on the fast path), but only one runs at a time,
 * so whatever threads share (lines, counters) is touched in one order.
 *
 * The limits: a thread that waits for another thread by spinning on memory, with no system
 * call, never reaches an event and stalls everyone (use `join`, or spin with a system call
 * that takes model time in the loop; `schedYield` is not one: it is no event).
 *
 * Across OS processes (one process per component over TCP), the cluster's manager hosts the
 * one `ModelScheduler` and each processor process gets a `RemoteScheduler` of
 * `remote_scheduler.ts` that forwards every operation to it, numbered, so the manager
 * applies them in the order the processor made them. That is enough because only processor
 * threads make events: memory and storage components only serve requests while an event is
 * being served. Both implement {@link ModelTimeScheduler}, which is all a processor sees.
 * One limit there: a thread that one processor starts for an event of another processor's
 * thread (none does today: a process runs on one processor) would reach the manager in wall
 * time, not in the event's order.
 *
 * @module
 */

import { KernelError } from "./errors.ts";
import { mulberry32 } from "./prng.ts";

/**
 * What a processor needs of deterministic mode: a seed (reported with a run's statistics)
 * and a participant per thread. {@link ModelScheduler} is one, for the components of one
 * OS process; `RemoteScheduler` (`remote_scheduler.ts`) forwards to the one at the cluster's
 * manager.
 *
 * @example
 * ```ts
 * import { ModelScheduler, type ModelTimeScheduler } from "./model_scheduler.ts";
 * const scheduler: ModelTimeScheduler = new ModelScheduler(3);
 * const t = scheduler.enter("p0/1/0");
 * await t.arrive(0);
 * t.done();
 * t.leave();
 * ```
 */
export interface ModelTimeScheduler {
  /** The seed that orders ties. */
  readonly seed: number;
  /** A new running thread named `name` (unique within the cluster, e.g. `p0/pid/tid`). */
  enter(name: string): SchedulerParticipant;
}

/** One thread of a {@link ModelTimeScheduler}, as the processor drives it. */
export interface SchedulerParticipant {
  /** Its name, unique within the cluster. */
  readonly name: string;
  /** Reached an event at model time `atNs`: resolves when it is this thread's turn. */
  arrive(atNs: number): Promise<void>;
  /** The event was served: the thread runs again. */
  done(): void;
  /** The event being served waits for `other` (of the same scheduler) to end (a join). */
  parkUntilLeft(other: SchedulerParticipant): void;
  /** The thread ended. */
  leave(): void;
}

/**
 * Where a thread stands with the scheduler: running its own code, waiting for its turn,
 * being served, parked (waiting for another thread to end), or gone.
 */
export type ParticipantState = "running" | "waiting" | "served" | "parked" | "left";

/**
 * One thread, as the scheduler sees it.
 *
 * @example
 * ```ts
 * import { ModelScheduler } from "./model_scheduler.ts";
 * const scheduler = new ModelScheduler(7);
 * const a = scheduler.enter("p0/1/0");
 * await a.arrive(100); // the only running thread: served at once
 * a.done();
 * a.leave();
 * ```
 */
export class Participant implements SchedulerParticipant {
  /** Its name, for errors. */
  readonly name: string;
  /** Tie-break key: events at equal model time are served in this order. */
  readonly tieKey: number;
  /** Model time of the event it waits to have served. */
  atNs = 0;
  /** Arrival counter, for a total order. */
  seq = 0;
  /** Where it stands. */
  state: ParticipantState = "running";
  /** Turns it was granted (an `arrive` released by its leaving is not one). */
  turns = 0;
  /** Resolves its pending {@link Participant.arrive} (set while it waits). */
  grant: (() => void) | undefined;
  readonly #scheduler: ModelScheduler;

  /** Called by {@link ModelScheduler.enter}. */
  constructor(scheduler: ModelScheduler, name: string, tieKey: number) {
    this.#scheduler = scheduler;
    this.name = name;
    this.tieKey = tieKey;
  }

  /** Reached an event at model time `atNs`: resolves when it is this thread's turn. */
  arrive(atNs: number): Promise<void> {
    return this.#scheduler.arrive(this, atNs);
  }

  /** The event was served: the thread runs again. */
  done(): void {
    this.#scheduler.done(this);
  }

  /**
   * The event being served waits for `other` to end (a join): this thread stops counting
   * until then, and counts as running again the moment `other` leaves.
   */
  parkUntilLeft(other: SchedulerParticipant): void {
    if (!(other instanceof Participant)) {
      throw new TypeError(`${this.name} cannot park on ${other.name}: not of the same scheduler`);
    }
    this.#scheduler.park(this, other);
  }

  /** The thread ended. */
  leave(): void {
    this.#scheduler.leave(this);
  }
}

/**
 * Orders the events of every thread of one cluster by model time (the threads of this
 * process, or, at the manager, those of every processor through `RemoteScheduler`s).
 *
 * @example
 * ```ts
 * import { ModelScheduler } from "./model_scheduler.ts";
 * const s = new ModelScheduler(1);
 * const a = s.enter("a");
 * const b = s.enter("b");
 * const order: string[] = [];
 * const pa = a.arrive(200).then(() => { order.push("a"); a.done(); a.leave(); });
 * const pb = b.arrive(100).then(() => { order.push("b"); b.done(); b.leave(); });
 * await Promise.all([pa, pb]);
 * console.assert(order.join() === "b,a");
 * ```
 */
export class ModelScheduler implements ModelTimeScheduler {
  /** The seed that orders ties. */
  readonly seed: number;
  readonly #members = new Set<Participant>();
  readonly #waiting: Participant[] = [];
  readonly #parked = new Map<Participant, Participant[]>();
  #running = 0;
  #served: Participant | undefined;
  #seq = 0;
  #events = 0;

  /** A scheduler whose ties are ordered by `seed` (an integer 0 to 2^32 - 1). */
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new KernelError("EINVAL", `seed must be an integer from 0 to 4294967295, got ${seed}`);
    }
    this.seed = seed;
  }

  /** Events served so far. */
  get events(): number {
    return this.#events;
  }

  /** A new running thread named `name` (unique within the cluster, e.g. `p0/pid/tid`). */
  enter(name: string): Participant {
    const p = new Participant(this, name, tieKey(this.seed, name));
    this.#members.add(p);
    this.#running++;
    return p;
  }

  /** See {@link Participant.arrive}. */
  arrive(p: Participant, atNs: number): Promise<void> {
    if (p.state !== "running") {
      return Promise.reject(new KernelError("EINVAL", `${p.name} arrived while ${p.state}`));
    }
    p.state = "waiting";
    p.atNs = atNs;
    p.seq = this.#seq++;
    this.#running--;
    const turn = new Promise<void>((resolve) => p.grant = resolve);
    this.#waiting.push(p);
    this.#next();
    return turn;
  }

  /** See {@link Participant.done}. */
  done(p: Participant): void {
    if (p.state !== "served") return;
    p.state = "running";
    this.#running++;
    this.#served = undefined;
    this.#next();
  }

  /** See {@link Participant.parkUntilLeft}. */
  park(p: Participant, other: Participant): void {
    if (p.state !== "served") return;
    this.#served = undefined;
    if (other.state === "left") {
      p.state = "running";
      this.#running++;
    } else {
      p.state = "parked";
      const list = this.#parked.get(other) ?? [];
      list.push(p);
      this.#parked.set(other, list);
    }
    this.#next();
  }

  /** See {@link Participant.leave}. */
  leave(p: Participant): void {
    if (p.state === "left") return;
    if (p.state === "running") this.#running--;
    if (p.state === "waiting") {
      this.#waiting.splice(this.#waiting.indexOf(p), 1);
      p.grant?.(); // its event will not be served: let its caller go on and see why
    }
    if (p.state === "served") this.#served = undefined;
    if (p.state === "parked") {
      for (const list of this.#parked.values()) {
        const i = list.indexOf(p);
        if (i >= 0) list.splice(i, 1);
      }
    }
    p.state = "left";
    this.#members.delete(p);
    // Threads joining this one run again now, before anything else is decided.
    for (const joiner of this.#parked.get(p) ?? []) {
      joiner.state = "running";
      this.#running++;
    }
    this.#parked.delete(p);
    this.#next();
  }

  /** Grants the earliest waiting event once nobody runs and nothing is being served. */
  #next(): void {
    if (this.#served || this.#running > 0 || this.#waiting.length === 0) return;
    let best = 0;
    for (let i = 1; i < this.#waiting.length; i++) {
      if (earlier(this.#waiting[i], this.#waiting[best])) best = i;
    }
    const p = this.#waiting.splice(best, 1)[0];
    p.state = "served";
    p.turns++;
    this.#served = p;
    this.#events++;
    p.grant!();
  }
}

/** Model time first, then the seeded tie-break key, then the name (never equal). */
function earlier(a: Participant, b: Participant): boolean {
  if (a.atNs !== b.atNs) return a.atNs < b.atNs;
  if (a.tieKey !== b.tieKey) return a.tieKey < b.tieKey;
  return a.name < b.name;
}

/** A number in [0, 1) fixed by `seed` and `name`. */
function tieKey(seed: number, name: string): number {
  let h = seed ^ 0x9e3779b9;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return mulberry32(h >>> 0)();
}
