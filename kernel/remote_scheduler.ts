/**
 * Deterministic mode across OS processes, the processor's side: a {@link ModelTimeScheduler}
 * whose every operation goes to the cluster's manager, which hosts the one `ModelScheduler`
 * of the cluster (see `monitors/manager/scheduler_host.ts`).
 *
 * Each operation carries this scheduler's session (a random number: a restarted processor
 * has a new one) and a sequence number, so the manager applies them in the order they were
 * made here, whatever order the transport delivers them in: a thread entered during an
 * event is entered before that event is done, as it is in one process. `enter`, `done`,
 * `parkUntilLeft` and `leave` are one-way messages (the thread goes on at once); `arrive`
 * is a call answered when the thread's turn comes, with no timeout (a turn can wait minutes
 * of other threads' compute). So that nobody waits forever, while threads wait this side
 * asks the manager every `pingMs` whether it still serves this session; when it does not
 * answer, or no longer knows the session (it declared this processor down and made its
 * threads leave), or a one-way operation could not be sent or was lost (the manager still
 * waits for its number at two pings in a row, both sent after it: then it waits for a
 * number that never comes), every waiting and later `arrive` fails with `EIO` naming why.
 *
 * @module
 */

import { KernelError } from "./errors.ts";
import type { ComponentId } from "./ids.ts";
import type { ModelTimeScheduler, SchedulerParticipant } from "./model_scheduler.ts";
import { withoutSpan } from "./model_time.ts";
import type { RpcNode } from "./rpc.ts";

/** Options of a {@link RemoteScheduler}. */
export interface RemoteSchedulerOptions {
  /** How often to check the manager while threads wait for their turn (default 1000 ms). */
  pingMs?: number;
  /** How long one check may take before the manager counts as unreachable (default 10 000 ms). */
  pingTimeoutMs?: number;
  /** The session number (default: random; tests fix it). */
  session?: number;
}

/** One-way scheduler operations (`MGR_SCHED_OP`'s `op`). */
export type SchedulerOp = "enter" | "done" | "park" | "leave";

/** Every {@link SchedulerOp}, for checking what arrives. */
export const SCHEDULER_OPS: readonly SchedulerOp[] = ["enter", "done", "park", "leave"];

/**
 * The processor's view of the manager's scheduler: forwards every operation, numbered.
 * The participants it returns are what `ModelScheduler`'s are to a processor in one process.
 *
 * @example
 * ```ts ignore
 * import { RemoteScheduler } from "./remote_scheduler.ts";
 * // `rpc` is the processor's RpcNode; manager "gm" hosts the cluster's ModelScheduler
 * // (monitors/manager/scheduler_host.ts; tests/kernel/remote_scheduler_test.ts runs this).
 * const scheduler = new RemoteScheduler(5, rpc, "gm");
 * const t = scheduler.enter("p0/1/0");
 * await t.arrive(100); // the only thread: its turn at once
 * t.done();
 * t.leave();
 * ```
 */
export class RemoteScheduler implements ModelTimeScheduler {
  /** The cluster's seed (the manager's scheduler orders ties with it). */
  readonly seed: number;
  /** This instance's session number. */
  readonly session: number;
  readonly #rpc: RpcNode;
  readonly #manager: ComponentId;
  readonly #pingMs: number;
  readonly #pingTimeoutMs: number;
  #seq = 0;
  #waiting = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #pinging = false;
  /** The manager's next number at the last ping, when it lagged behind what was sent. */
  #stuckAt: number | undefined;
  /** Set once the schedule is lost: every waiting and later `arrive` fails with it. */
  #broken: KernelError | undefined;
  readonly #abort = new AbortController();

  /** A scheduler of `rpc`'s component that forwards to manager `manager`. */
  constructor(
    seed: number,
    rpc: RpcNode,
    manager: ComponentId,
    options: RemoteSchedulerOptions = {},
  ) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new KernelError("EINVAL", `seed must be an integer from 0 to 4294967295, got ${seed}`);
    }
    this.seed = seed;
    this.#rpc = rpc;
    this.#manager = manager;
    this.#pingMs = options.pingMs ?? 1000;
    this.#pingTimeoutMs = options.pingTimeoutMs ?? 10_000;
    this.session = options.session ?? crypto.getRandomValues(new Uint32Array(1))[0];
  }

  /** Operations sent so far (the next one's number). */
  get operations(): number {
    return this.#seq;
  }

  /** Why the schedule is lost, once it is. */
  get broken(): KernelError | undefined {
    return this.#broken;
  }

  /** See {@link ModelTimeScheduler.enter}. */
  enter(name: string): SchedulerParticipant {
    this.send("enter", name);
    return new RemoteParticipant(this, name);
  }

  /** Sends one-way operation `op` on thread `name` (`other`: whom a "park" waits for). */
  send(op: SchedulerOp, name: string, other = ""): void {
    if (this.#broken) return; // the manager will not apply anything more of this session
    const seq = this.#seq++;
    withoutSpan(() =>
      this.#rpc.notify(this.#manager, "MGR_SCHED_OP", {
        session: this.session,
        seq,
        op,
        name,
        other,
      })
    ).catch((e) =>
      // A gap in the numbers: the manager waits for it forever, so the schedule is lost.
      this.#break(`could not send ${op} of ${name} to ${this.#manager}: ${message(e)}`)
    );
  }

  /** Thread `name` reached an event at `atNs`: resolves at its turn, or fails with `EIO`. */
  async arrive(name: string, atNs: number): Promise<void> {
    if (this.#broken) throw this.#broken;
    const seq = this.#seq++;
    this.#waiting++;
    this.#watch();
    try {
      await withoutSpan(() =>
        this.#rpc.call(this.#manager, "MGR_SCHED_ARRIVE", {
          session: this.session,
          seq,
          name,
          atNs,
        }, { timeoutMs: Infinity, signal: this.#abort.signal })
      );
    } catch (e) {
      if (this.#broken) throw this.#broken;
      this.#break(`${name}'s turn at ${this.#manager} failed: ${message(e)}`);
      throw this.#broken!;
    } finally {
      this.#waiting--;
      if (this.#waiting === 0) this.#unwatch();
    }
  }

  #watch(): void {
    if (this.#timer !== undefined) return;
    const timer = setInterval(() => this.#ping(), this.#pingMs);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #unwatch(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #ping(): Promise<void> {
    if (this.#pinging || this.#broken) return;
    this.#pinging = true;
    const sent = this.#seq;
    try {
      const { next } = await withoutSpan(() =>
        this.#rpc.call(this.#manager, "MGR_SCHED_PING", { session: this.session }, {
          timeoutMs: this.#pingTimeoutMs,
        })
      );
      // Operations sent before this ping are not all applied: one may be late (a transport
      // that reorders) or lost. Stuck at the same number on the next ping too: lost.
      if (next < sent && next === this.#stuckAt) {
        this.#break(`operation ${next} never reached ${this.#manager} (it waits for it)`);
      }
      this.#stuckAt = next < sent ? next : undefined;
    } catch (e) {
      if (!this.#rpc.closed) this.#break(`manager ${this.#manager}: ${message(e)}`);
    } finally {
      this.#pinging = false;
    }
  }

  #break(why: string): void {
    if (this.#broken) return;
    this.#broken = new KernelError("EIO", `deterministic mode lost its schedule: ${why}`);
    this.#unwatch();
    this.#abort.abort(this.#broken);
  }
}

/** A thread of a {@link RemoteScheduler}. */
class RemoteParticipant implements SchedulerParticipant {
  readonly name: string;
  readonly #scheduler: RemoteScheduler;

  constructor(scheduler: RemoteScheduler, name: string) {
    this.#scheduler = scheduler;
    this.name = name;
  }

  arrive(atNs: number): Promise<void> {
    return this.#scheduler.arrive(this.name, atNs);
  }

  done(): void {
    this.#scheduler.send("done", this.name);
  }

  parkUntilLeft(other: SchedulerParticipant): void {
    this.#scheduler.send("park", this.name, other.name);
  }

  leave(): void {
    this.#scheduler.send("leave", this.name);
  }
}

function message(e: unknown): string {
  const error = e as { message?: unknown; cause?: unknown };
  return String(error?.message ?? e);
}
