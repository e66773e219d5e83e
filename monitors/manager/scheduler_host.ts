/**
 * Deterministic mode across OS processes, the manager's side: the cluster's one
 * `ModelScheduler`, driven by the processors' `RemoteScheduler`s (kernel/remote_scheduler.ts)
 * through `MGR_SCHED_OP`, `MGR_SCHED_ARRIVE` and `MGR_SCHED_PING`.
 *
 * Per processor session it applies operations strictly in their numbers' order: one that
 * arrives early waits in a buffer until those before it have arrived. A processor the
 * manager declares down ({@link SchedulerHost.down}) has its threads leave the schedule, so
 * the others go on; its waiting and later arrivals, and its pings, fail with `EIO`. A new
 * session from the same processor (it restarted) retires the old one the same way.
 *
 * @module
 */

import { KernelError } from "../../kernel/errors.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import type { ModelScheduler, Participant } from "../../kernel/model_scheduler.ts";
import type { OpsTable } from "../../kernel/rpc.ts";
import { SCHEDULER_OPS, type SchedulerOp } from "../../kernel/remote_scheduler.ts";

/** Operations of one session that may wait for earlier numbers (beyond: an error). */
export const MAX_BUFFERED_OPS = 65_536;

/** An operation waiting for its turn to be applied. */
type Pending = () => void;

/** What the manager keeps of one processor's scheduler session. */
interface Session {
  readonly id: number;
  /** The number of the next operation to apply. */
  next: number;
  /** Operations that arrived before their turn, by number. */
  readonly early: Map<number, Pending>;
  /** Its threads by name (kept after they leave, for a later "park" on them). */
  readonly threads: Map<string, Participant>;
  /** Why it no longer takes part (declared down, replaced by a new session). */
  ended?: string;
  /** Rejects the arrivals still buffered when it ends. */
  readonly rejects: Set<(error: Error) => void>;
}

/**
 * Hosts `scheduler` for remote processors.
 *
 * @example
 * ```ts
 * import { ModelScheduler } from "../../kernel/model_scheduler.ts";
 * import { SchedulerHost } from "./scheduler_host.ts";
 * const host = new SchedulerHost(new ModelScheduler(1), () => {});
 * // Out of order: "arrive" (number 1) waits for "enter" (number 0).
 * const turn = host.arrive("p0", 7, 1, "p0/1/0", 100);
 * host.op("p0", 7, 0, "enter", "p0/1/0", "");
 * await turn;
 * host.op("p0", 7, 2, "done", "p0/1/0", "");
 * host.op("p0", 7, 3, "leave", "p0/1/0", "");
 * console.assert(host.scheduler.events === 1);
 * ```
 */
export class SchedulerHost {
  /** The cluster's scheduler. */
  readonly scheduler: ModelScheduler;
  readonly #log: (line: string) => void;
  readonly #sessions = new Map<ComponentId, Session>();
  /** Sessions that ended, per processor: their late operations are ignored. */
  readonly #retired = new Map<ComponentId, Set<number>>();
  #applied = 0;
  #sessionsSeen = 0;
  #early = 0;

  /** Hosts `scheduler`; `log` gets a line for every operation it drops and why. */
  constructor(scheduler: ModelScheduler, log: (line: string) => void) {
    this.scheduler = scheduler;
    this.#log = log;
  }

  /** The `MGR_SCHED_*` handlers, for `RpcNode.handle`. */
  handlers(): Pick<OpsTable, "MGR_SCHED_OP" | "MGR_SCHED_ARRIVE" | "MGR_SCHED_PING"> {
    return {
      MGR_SCHED_OP: ({ session, seq, op, name, other }, call) => {
        try {
          this.op(call.from, session, seq, op, name, other);
        } catch (e) {
          // One-way: nobody to answer; say it here.
          this.#log(`scheduler: dropped ${op} of ${name} from ${call.from}: ${message(e)}`);
        }
        return {};
      },
      MGR_SCHED_ARRIVE: async ({ session, seq, name, atNs }, call) => {
        await this.arrive(call.from, session, seq, name, atNs);
        return {};
      },
      MGR_SCHED_PING: ({ session }, call) => {
        const s = this.#sessions.get(call.from);
        if (s?.id === session && s.ended) throw new KernelError("EIO", s.ended);
        if (s?.id !== session && this.#retired.get(call.from)?.has(session)) {
          throw new KernelError("EIO", `${call.from}'s scheduler session ${session} ended`);
        }
        return { next: s?.id === session ? s.next : 0 };
      },
    };
  }

  /** Applies (in number order) one-way operation `op` of thread `name` of `from`. */
  op(
    from: ComponentId,
    session: number,
    seq: number,
    op: string,
    name: string,
    other: string,
  ): void {
    const problem = !SCHEDULER_OPS.includes(op as SchedulerOp)
      ? `unknown operation "${op}"`
      : op === "park" && other === ""
      ? `park of ${name} names no thread to wait for`
      : undefined;
    if (problem) {
      // Still takes its number, so the operations after it are applied.
      this.#log(`scheduler: ${problem} from ${from} (number ${seq}) ignored`);
      this.#queue(from, session, seq, () => {});
      return;
    }
    this.#queue(from, session, seq, () => this.#apply(from, op as SchedulerOp, name, other));
  }

  /** Applies (in number order) thread `name`'s arrival at `atNs`; resolves at its turn. */
  arrive(
    from: ComponentId,
    session: number,
    seq: number,
    name: string,
    atNs: number,
  ): Promise<void> {
    if (!Number.isFinite(atNs) || atNs < 0) {
      return Promise.reject(
        new KernelError("EINVAL", `${name} arrived at model time ${atNs}: not a time`),
      );
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    try {
      const s = this.#session(from, session);
      if (s.ended) throw new KernelError("EIO", s.ended);
      s.rejects.add(reject);
      this.#queue(from, session, seq, () => {
        s.rejects.delete(reject);
        const p = s.threads.get(name);
        if (!p) {
          reject(new KernelError("ENOENT", `${name} arrived but was never entered by ${from}`));
          return;
        }
        // Granted, or released because it left (its processor's own leave, or it was
        // declared down): then its caller must not take the turn as served.
        const turns = p.turns;
        p.arrive(atNs).then(() => {
          if (p.turns > turns) resolve();
          else reject(new KernelError("EIO", `${name} left the schedule: ${s.ended ?? "it left"}`));
        }, reject);
      });
    } catch (e) {
      this.#sessions.get(from)?.rejects.delete(reject);
      return Promise.reject(e);
    }
    return promise;
  }

  /**
   * Processor `id` is down (its heartbeats stopped): its threads leave the schedule, so
   * the others' events go on; it takes no further part.
   */
  down(id: ComponentId): void {
    const s = this.#sessions.get(id);
    if (s) this.#end(id, s, `the manager declared ${id} down`);
  }

  /**
   * What it has done: `events` served, `operations` applied, `early` operations that had
   * to wait for an earlier number, `sessions` seen, `threads` still in the schedule.
   */
  stats(): {
    seed: number;
    events: number;
    operations: number;
    early: number;
    sessions: number;
    threads: number;
  } {
    let threads = 0;
    for (const from of this.#sessions.keys()) threads += this.threadsOf(from);
    return {
      seed: this.scheduler.seed,
      events: this.scheduler.events,
      operations: this.#applied,
      early: this.#early,
      sessions: this.#sessionsSeen,
      threads,
    };
  }

  /** Threads of `from` still in the schedule (neither left nor ended). */
  threadsOf(from: ComponentId): number {
    const s = this.#sessions.get(from);
    if (!s || s.ended) return 0;
    return [...s.threads.values()].filter((p) => p.state !== "left").length;
  }

  #session(from: ComponentId, id: number): Session {
    const current = this.#sessions.get(from);
    if (current?.id === id) return current;
    if (this.#retired.get(from)?.has(id)) {
      throw new KernelError("EIO", `${from}'s scheduler session ${id} ended`);
    }
    // A new session: the processor restarted, so its old threads are gone.
    if (current) this.#end(from, current, `${from} started a new scheduler session`);
    const s: Session = { id, next: 0, early: new Map(), threads: new Map(), rejects: new Set() };
    this.#sessions.set(from, s);
    this.#sessionsSeen++;
    return s;
  }

  #queue(from: ComponentId, session: number, seq: number, apply: Pending): Session {
    const s = this.#session(from, session);
    if (s.ended) return s;
    if (seq < s.next || s.early.has(seq)) {
      throw new KernelError("EINVAL", `${from} sent operation number ${seq} twice`);
    }
    if (seq - s.next >= MAX_BUFFERED_OPS) {
      throw new KernelError(
        "EINVAL",
        `${from} sent operation number ${seq} while ${s.next} is due (at most ${MAX_BUFFERED_OPS} may wait)`,
      );
    }
    s.early.set(seq, apply);
    if (seq !== s.next) this.#early++;
    for (let op = s.early.get(s.next); op && !s.ended; op = s.early.get(s.next)) {
      s.early.delete(s.next);
      s.next++;
      this.#applied++;
      try {
        op();
      } catch (e) {
        // A bad operation must not stop the ones after it.
        this.#log(`scheduler: operation ${s.next - 1} of ${from} failed: ${message(e)}`);
      }
    }
    return s;
  }

  #apply(from: ComponentId, op: SchedulerOp, name: string, other: string): void {
    const s = this.#sessions.get(from)!;
    if (op === "enter") {
      if (s.threads.get(name)?.state === "running") {
        throw new KernelError("EEXIST", `${from} entered ${name} twice`);
      }
      s.threads.set(name, this.scheduler.enter(name));
      return;
    }
    const p = s.threads.get(name);
    if (!p) throw new KernelError("ENOENT", `${from} sent ${op} of ${name}, never entered`);
    if (op === "done") p.done();
    else if (op === "leave") p.leave();
    else {
      const target = s.threads.get(other);
      if (!target) throw new KernelError("ENOENT", `${name} parks on ${other}, never entered`);
      p.parkUntilLeft(target);
    }
  }

  #end(from: ComponentId, s: Session, why: string): void {
    if (s.ended) return;
    s.ended = why;
    s.early.clear();
    const retired = this.#retired.get(from) ?? new Set<number>();
    retired.add(s.id);
    this.#retired.set(from, retired);
    const error = new KernelError("EIO", why);
    for (const reject of s.rejects) reject(error);
    s.rejects.clear();
    // Waiting threads leave first: one leaving while it runs may let the scheduler grant
    // the next turn, which must not go to another thread that is leaving too.
    const order = ["waiting", "parked", "served", "running"];
    const leaving = [...s.threads.values()].filter((p) => p.state !== "left")
      .sort((a, b) => order.indexOf(a.state) - order.indexOf(b.state));
    for (const p of leaving) p.leave();
    const left = leaving.length;
    if (left > 0) this.#log(`scheduler: ${left} thread(s) of ${from} left the schedule: ${why}`);
  }
}

function message(e: unknown): string {
  return String((e as { message?: unknown })?.message ?? e);
}
