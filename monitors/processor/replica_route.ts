/**
 * The processor's part in memory replication: dirty flushes go to the primary and its
 * secondary in parallel, and requests follow a failed memory component to its successor.
 *
 * It wraps the {@link Messenger}, so every request to memory (page service, address-space
 * and file calls) passes through it:
 * - a page flush (`P2M_PAGE_FLUSH`, or the flush half of `P2M_PAGE_FLUSH_FETCH`) to a
 *   memory component that has a secondary also goes, at the same moment, to the secondary
 *   (`P2M_PAGE_REPLICATE`); the thread resumes once both acknowledged, and is charged the
 *   slower of the two round trips, not their sum (they overlap); the copy's frame leaves
 *   the processor's NIC after the flush's (the RPC layer's NIC model queues it). The secondary of each
 *   memory component is asked of the manager once (`MGR_REPLICA_INFO`);
 * - a request to a memory component that is gone is retried at its successor
 *   (`kernel/failover.ts`), and the processes' cached routes (vRegion owners, home) are
 *   rewritten, so running processes go on without an error.
 *
 * File data is not replicated: a home's buffer cache holds what a process wrote until
 * `fsync` (or `close`) sends it to storage. When a home fails over, the files a process
 * wrote through it and had not synced since may have lost those writes, so their next
 * `fsync` or `close` — at the new home, or the one that was in flight — fails with `EIO`
 * (as Linux reports a lost write-back once), never a false success.
 *
 * A memory component without a secondary cannot fail over: requests to it go straight
 * through, at no extra cost.
 *
 * @module
 */

import { ModelClock } from "../../kernel/clock.ts";
import { KernelError, RemoteError } from "../../kernel/errors.ts";
import { FailoverWatch, followFailover, isUnreachable } from "../../kernel/failover.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import {
  type MessageKind,
  PAGE_SIZE,
  type ReplyOf,
  type RequestOf,
} from "../../kernel/messages.ts";
import type { MonitorContext } from "../../kernel/monitor.ts";
import type { OpsTable } from "../../kernel/rpc.ts";
import type { CallSize, Messenger } from "./messenger.ts";
import type { ChargedThread, ProcessCounters, ProcessRecord } from "./records.ts";

/** What the router needs from the processor monitor. */
export interface RouteHost {
  /** The monitor's context (RPC, manager, log). */
  readonly context: MonitorContext;
  /** The running processes (their cached routes are rewritten on a failover). */
  processes(): Iterable<ProcessRecord>;
}

/** Counters of a {@link FailoverMessenger}. */
export interface RouteStats {
  /** Flushes also sent to a secondary. */
  replicatedFlushes: number;
  /** Requests retried at a successor. */
  rerouted: number;
  /** Failovers heard of. */
  failovers: number;
}

/**
 * A messenger that replicates flushes and follows failovers.
 *
 * @example
 * ```ts ignore
 * const messenger = new FailoverMessenger(createMessenger(context), { context, processes });
 * context.rpc.handle(messenger.handlers());
 * ```
 */
export class FailoverMessenger implements Messenger {
  /** Failovers announced by the manager. */
  readonly watch: FailoverWatch = new FailoverWatch();
  /** Counters. */
  readonly stats: RouteStats = { replicatedFlushes: 0, rerouted: 0, failovers: 0 };
  readonly #inner: Messenger;
  readonly #host: RouteHost;
  /** Memory component → its secondary ("" when none), once the manager said. */
  readonly #secondary = new Map<ComponentId, string>();
  readonly #asking = new Map<ComponentId, Promise<string>>();
  /** pid → path → the home its writes since the last sync went to. */
  readonly #unsynced = new Map<number, Map<string, ComponentId>>();
  /** pid → paths whose unsynced writes died with their home: the next sync fails. */
  readonly #lost = new Map<number, Set<string>>();

  /** Wraps `inner`. */
  constructor(inner: Messenger, host: RouteHost) {
    this.#inner = inner;
    this.#host = host;
    this.watch.listen((id, successor) => {
      this.stats.failovers++;
      if (successor !== "") this.#moved(id, successor);
      this.#homeGone(id);
      // Pairs changed: ask again.
      this.#secondary.clear();
    });
  }

  /** The `MGR_FAILOVER` handler (the manager's announcements). */
  handlers(): Partial<OpsTable> {
    const { context } = this.#host;
    return {
      MGR_FAILOVER: ({ id, successor }, call) => {
        if (call.from !== context.manager) {
          throw new RemoteError(context.id, "EPERM", `only the manager announces failovers`);
        }
        this.watch.notify(id, successor);
        return {};
      },
    };
  }

  /** Sends `kind` to `to` for `thread`: replicated and failover-following when `to` is replicated. */
  call<K extends MessageKind>(
    thread: ChargedThread,
    to: ComponentId,
    kind: K,
    body: RequestOf<K>,
    size: CallSize,
  ): Promise<ReplyOf<K>> {
    if (!kind.startsWith("P2M_")) return this.#inner.call(thread, to, kind, body, size);
    const known = this.#secondary.get(to);
    if (kind === "P2M_EXIT") {
      const pid = (body as { pid: number }).pid;
      this.#unsynced.delete(pid);
      this.#lost.delete(pid);
    }
    if (known !== "" && (kind === "P2M_WRITE" || kind === "P2M_FSYNC" || kind === "P2M_CLOSE")) {
      return this.#fileCall(thread, to, kind, body, size);
    }
    if (known === "") return this.#inner.call(thread, to, kind, body, size);
    const { context } = this.#host;
    return followFailover({
      rpc: context.rpc,
      manager: context.manager,
      watch: this.watch,
      pid: (body as { pid?: number }).pid ?? 0,
      to,
      attempt: (dest) => this.#attempt(thread, dest, kind, body, size),
      // A restarted, empty component refuses what it never had: maybe moved.
      maybeStale: (e) => e instanceof RemoteError && (e.code === "EFAULT" || e.code === "ESRCH"),
      moved: (from, next) => {
        this.stats.rerouted++;
        this.#moved(from, next);
      },
    });
  }

  /**
   * A file call: `P2M_WRITE` remembers what awaits a sync; `P2M_FSYNC` and `P2M_CLOSE`
   * fail with `EIO` when writes they should make durable died with a failed home.
   */
  async #fileCall<K extends MessageKind>(
    thread: ChargedThread,
    to: ComponentId,
    kind: K,
    body: RequestOf<K>,
    size: CallSize,
  ): Promise<ReplyOf<K>> {
    const { pid, path } = body as { pid: number; path: string };
    const sync = kind !== "P2M_WRITE";
    const lostWrites = () => {
      this.#lost.get(pid)?.delete(path);
      this.#unsynced.get(pid)?.delete(path);
      return new KernelError(
        "EIO",
        `writes to "${path}" that were not yet synced were lost with memory component ` +
          `${to}, the process's home, which failed; write them again`,
      );
    };
    if (sync && this.#lost.get(pid)?.has(path)) throw lostWrites();
    const { context } = this.#host;
    const reply = await followFailover({
      rpc: context.rpc,
      manager: context.manager,
      watch: this.watch,
      pid,
      to,
      attempt: (dest) => {
        const lost = this.#lost.get(pid)?.has(path) ||
          (dest !== to && this.#unsynced.get(pid)?.has(path));
        if (sync && lost) {
          return Promise.reject(lostWrites());
        }
        return this.#inner.call(thread, dest, kind, body, size);
      },
      moved: (from, next) => {
        this.stats.rerouted++;
        this.#moved(from, next);
        this.#homeGone(from);
      },
    }).catch((e) => {
      if (sync && this.#lost.get(pid)?.has(path)) throw lostWrites();
      throw e;
    });
    if (sync) this.#unsynced.get(pid)?.delete(path);
    else {
      let paths = this.#unsynced.get(pid);
      if (!paths) this.#unsynced.set(pid, paths = new Map());
      paths.set(path, to);
    }
    return reply;
  }

  /** Home `id` failed: unsynced file writes through it are lost. */
  #homeGone(id: ComponentId): void {
    for (const [pid, paths] of this.#unsynced) {
      for (const [path, home] of paths) {
        if (home !== id) continue;
        paths.delete(path);
        let lost = this.#lost.get(pid);
        if (!lost) this.#lost.set(pid, lost = new Set());
        lost.add(path);
      }
    }
  }

  async #attempt<K extends MessageKind>(
    thread: ChargedThread,
    to: ComponentId,
    kind: K,
    body: RequestOf<K>,
    size: CallSize,
  ): Promise<ReplyOf<K>> {
    const secondary = this.#secondary.get(to) ?? await this.#secondaryOf(to);
    if (secondary === "" || (kind !== "P2M_PAGE_FLUSH" && kind !== "P2M_PAGE_FLUSH_FETCH")) {
      return await this.#inner.call(thread, to, kind, body, size);
    }
    const b = body as { pid: number; vaddr?: number; flushVaddr?: number; page: Uint8Array };
    const legs = [new Leg(thread), new Leg(thread)];
    try {
      const [reply] = await Promise.all([
        this.#inner.call(legs[0], to, kind, body, size),
        this.#replicate(legs[1], to, secondary, b.pid, b.vaddr ?? b.flushVaddr!, b.page),
      ]);
      this.stats.replicatedFlushes++;
      return reply;
    } finally {
      Leg.join(thread, legs);
    }
  }

  /** Sends the copy of a flush to `secondary`; resolves once it has it or no longer counts. */
  async #replicate(
    leg: Leg,
    primary: ComponentId,
    secondary: ComponentId,
    pid: number,
    vaddr: number,
    page: Uint8Array,
  ): Promise<void> {
    const { context } = this.#host;
    let waitMs = 10;
    for (;;) {
      const gone = this.watch.gone(secondary).then(() => "gone" as const);
      const call = this.#inner.call(leg, secondary, "P2M_PAGE_REPLICATE", {
        primary,
        pid,
        vaddr,
        page,
      }, { request: PAGE_SIZE + 24 });
      try {
        if ((await Promise.race([call, gone])) === "gone") {
          call.catch(() => {});
          return; // the secondary is gone: the primary alone holds the page now
        }
        return;
      } catch (e) {
        if (!isUnreachable(e)) throw e;
      }
      const info = await context.rpc.call(context.manager, "MGR_REPLICA_INFO", {
        id: primary,
        pid: 0,
      }, { timeoutMs: 5000 }).catch(() => undefined);
      if (info && info.secondary !== secondary) {
        this.#secondary.set(primary, info.secondary);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      waitMs = Math.min(2 * waitMs, 250);
    }
  }

  /** The secondary of `id` ("" when none), asked of the manager once. */
  #secondaryOf(id: ComponentId): Promise<string> {
    let asking = this.#asking.get(id);
    if (!asking) {
      const { context } = this.#host;
      asking = context.rpc.call(context.manager, "MGR_REPLICA_INFO", { id, pid: 0 }, {
        timeoutMs: 5000,
      }).then(
        (info) => info.secondary,
        () => "", // a manager that knows no replication: nothing is replicated
      ).then((secondary) => {
        this.#secondary.set(id, secondary);
        return secondary;
      }).finally(() => this.#asking.delete(id));
      this.#asking.set(id, asking);
    }
    return asking;
  }

  /** `from`'s work is at `to` now: rewrites every process's cached routes. */
  #moved(from: ComponentId, to: ComponentId): void {
    for (const p of this.#host.processes()) {
      if (p.home === from) p.home = to;
      for (const [vregion, owner] of p.owners) if (owner === from) p.owners.set(vregion, to);
    }
  }
}

/** One of the two overlapping legs of a replicated flush, with a clock of its own. */
class Leg implements ChargedThread {
  readonly clock: ModelClock;
  readonly counters: ProcessCounters;
  readonly stalls: Record<string, number> = {};
  readonly #parent: ChargedThread;

  constructor(parent: ChargedThread) {
    this.#parent = parent;
    this.clock = new ModelClock(parent.clock.nowNs());
    this.counters = parent.counters;
  }

  chargeStall(kind: string, ns: number): void {
    if (ns > 0) this.stalls[kind] = (this.stalls[kind] ?? 0) + ns;
  }

  modelNs(): number {
    return this.clock.nowNs() + (this.#parent.modelNs() - this.#parent.clock.nowNs());
  }

  /** Advances `parent` to its slowest leg and charges that leg's stalls. */
  static join(parent: ChargedThread, legs: readonly Leg[]): void {
    let slowest: Leg | undefined;
    for (const leg of legs) {
      if (!slowest || leg.clock.nowNs() > slowest.clock.nowNs()) slowest = leg;
    }
    if (!slowest || slowest.clock.nowNs() <= parent.clock.nowNs()) return;
    parent.clock.advanceTo(slowest.clock.nowNs());
    for (const [kind, ns] of Object.entries(slowest.stalls)) parent.chargeStall(kind, ns);
  }
}
