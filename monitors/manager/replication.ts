/**
 * The managers' side of memory replication: which memory component keeps the replica of
 * which (each primary announces its `secondary` when it joins), where a failed one's work
 * went, and the failover itself.
 *
 * A failover starts when the failure detector declares a primary down, or when a primary
 * that held vRegions or processes joins again under the same id (its process restarted,
 * its memory is gone). The manager asks the secondary to take over (`MGR_PROMOTE`: it
 * loads its replica into its own page owner and home), then moves the primary's vRegions
 * and process homes to it in the cluster state, records it as the primary's `successor`,
 * announces the move to every processor and memory component (`MGR_FAILOVER`: calls
 * waiting on the primary are retried at the successor) and emits the `failover` event —
 * the sign that the failover is complete. A restarted primary's join is answered only
 * then, so it never serves what it no longer has.
 *
 * A drained secondary (kept free so that the primary holds everything) is undrained when it
 * takes over: it is the primary now, and the processes it serves need new vRegions placed.
 *
 * A replica is used once: after a failover, or once its secondary is declared down, the
 * pair no longer counts as replicated (the successor may have a secondary of its own).
 *
 * @module
 */

import type { EventBus } from "../../kernel/events.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import type { RpcNode } from "../../kernel/rpc.ts";
import type { ClusterState } from "./cluster_state.ts";

/** How long a secondary may take to load a replica before the failover is abandoned. */
const PROMOTE_TIMEOUT_MS = 60_000;

/** What {@link Replication} works with. */
export interface ReplicationOptions {
  /** The manager's id. */
  self: ComponentId;
  /** The cluster state the manager keeps. */
  state: ClusterState;
  /** RPC, to promote and announce. */
  rpc: RpcNode;
  /** Cluster events. */
  events: EventBus;
  /** Log lines. */
  log(line: string): void;
}

/** One replicated primary. */
interface Pair {
  secondary: ComponentId;
  /** The replica was used by a failover, or its secondary went down. */
  ended: boolean;
}

/**
 * Replication pairs, failovers and the answers to `MGR_REPLICA_INFO`.
 *
 * @example
 * ```ts ignore
 * const replication = new Replication({ self: "gm", state, rpc, events, log });
 * replication.joined("m0", { secondary: "m1" });
 * await replication.failover("m0", "down");
 * ```
 */
export class Replication {
  readonly #options: ReplicationOptions;
  readonly #pairs = new Map<ComponentId, Pair>();
  readonly #running = new Map<ComponentId, Promise<void>>();
  #failovers = 0;

  /** Creates the pair table; it fills as primaries join. */
  constructor(options: ReplicationOptions) {
    this.#options = options;
  }

  /** Failovers completed. */
  get failovers(): number {
    return this.#failovers;
  }

  /**
   * Before `id` (re)joins with `capacity`: when it is a restarted primary whose memory is
   * lost, fails it over first. Resolves when the join may be answered.
   */
  async beforeJoin(id: ComponentId, role: string): Promise<void> {
    const old = this.#options.state.components.get(id);
    const pair = this.#pairs.get(id);
    if (!old || role !== "memory" || !pair || pair.ended) return;
    if (old.assigned.vregions === 0 && old.assigned.homes === 0) return;
    this.#options.log(`${id} joined again: its memory is gone, failing it over`);
    this.#options.state.markDown(id);
    await this.failover(id, "rejoined");
  }

  /** After `id` joined with `capacity`: records the secondary it announced. */
  joined(id: ComponentId, capacity: Record<string, unknown>): void {
    const record = this.#options.state.components.get(id);
    const secondary = capacity.secondary;
    if (typeof secondary === "string" && secondary !== "" && secondary !== id) {
      this.#pairs.set(id, { secondary, ended: false });
      if (record) record.secondary = secondary;
    } else {
      this.#pairs.delete(id);
    }
  }

  /** The answer to `MGR_REPLICA_INFO`: `id`'s state, live secondary, successor, and `pid`'s home. */
  info(id: ComponentId, pid: number): {
    state: string;
    secondary: string;
    successor: string;
    home: string;
  } {
    const { state } = this.#options;
    const record = state.components.get(id);
    const pair = this.#pairs.get(id);
    const secondaryUp = pair && !pair.ended &&
      state.components.get(pair.secondary)?.state === "up";
    return {
      state: record?.state ?? "unknown",
      secondary: secondaryUp ? pair.secondary : "",
      successor: record?.successor ?? "",
      home: state.processes.get(pid)?.home ?? "",
    };
  }

  /**
   * Waits while `id` may still fail over (it has a live replica, and it is not yet declared
   * down or its failover is under way). Resolves true once its work moved to a successor,
   * false when it will not (no replica, or the failover failed); a short wait, so callers
   * ask again until their own deadline.
   */
  async awaitFailover(id: ComponentId): Promise<boolean> {
    const record = () => this.#options.state.components.get(id);
    const pair = this.#pairs.get(id);
    if (record()?.successor) return true;
    if (!pair || pair.ended) {
      return this.#running.has(id) ? (await this.#running.get(id), !!record()?.successor) : false;
    }
    const running = this.#running.get(id);
    if (running) await running;
    else await new Promise((resolve) => setTimeout(resolve, 20));
    return record()?.successor !== undefined || !(this.#pairs.get(id)?.ended ?? true);
  }

  /** `id` was declared down: fails it over (in the background; errors are reported). */
  down(id: ComponentId): void {
    if (this.#options.state.components.get(id)?.role !== "memory") return;
    this.failover(id, "down").catch((e) =>
      this.#options.log(`failover of ${id} failed: ${(e as Error).message}`)
    );
  }

  /** Fails `id` over to its secondary (once; a second call joins the first). */
  failover(id: ComponentId, reason: "down" | "rejoined"): Promise<void> {
    let running = this.#running.get(id);
    if (!running) {
      running = this.#failover(id, reason).finally(() => this.#running.delete(id));
      this.#running.set(id, running);
    }
    return running;
  }

  async #failover(id: ComponentId, reason: "down" | "rejoined"): Promise<void> {
    const { state, rpc, events, log } = this.#options;
    // Replicas `id` kept for others are gone with it.
    for (const [primary, pair] of this.#pairs) {
      if (pair.secondary !== id || pair.ended) continue;
      pair.ended = true;
      const record = state.components.get(primary);
      if (record) delete record.secondary;
      log(`${primary} is no longer replicated: its secondary ${id} is down`);
      events.emit("custom.replication-lost", {
        component: primary,
        data: { primary, secondary: id },
      });
    }
    const pair = this.#pairs.get(id);
    const secondary = pair && !pair.ended ? pair.secondary : undefined;
    if (secondary === undefined || state.components.get(secondary)?.state !== "up") {
      if (secondary !== undefined) {
        events.emit("fault", {
          component: id,
          data: { reason: "failover failed", error: `its secondary ${secondary} is down` },
        });
      }
      await this.#announce(id, "");
      return;
    }
    const started = performance.now();
    let loaded;
    try {
      loaded = await rpc.call(secondary, "MGR_PROMOTE", { primary: id }, {
        timeoutMs: PROMOTE_TIMEOUT_MS,
      });
    } catch (e) {
      pair!.ended = true;
      events.emit("fault", {
        component: id,
        data: { reason: "failover failed", secondary, error: (e as Error).message },
      });
      log(`failover of ${id} to ${secondary} failed: ${(e as Error).message}`);
      await this.#announce(id, "");
      return;
    }
    pair!.ended = true;
    const moved = state.moveWork(id, secondary);
    const successor = state.components.get(secondary);
    if (successor?.drained) {
      // It was kept free for the primary's work; now it is the primary, and new vRegions of
      // the processes it took over must be placed somewhere.
      successor.drained = false;
      events.emit("custom.drain", { component: secondary, data: { drained: false } });
      log(`${secondary} undrained: it took over ${id}`);
    }
    const record = state.components.get(id);
    if (record) {
      record.successor = secondary;
      delete record.secondary;
    }
    await this.#announce(id, secondary);
    this.#failovers++;
    const promoteMs = Math.round((performance.now() - started) * 10) / 10;
    log(
      `${id} failed over to ${secondary} (${reason}): ${moved.vregions} vRegions, ` +
        `${moved.processes} processes, ${loaded.pages} pages in ${promoteMs} ms`,
    );
    events.emit("failover", {
      component: id,
      data: {
        primary: id,
        secondary,
        reason,
        vregions: moved.vregions,
        processes: moved.processes,
        pages: loaded.pages,
        promoteMs,
      },
    });
  }

  /** Tells every processor and memory component (but `id`) that `id`'s work is at `successor`. */
  async #announce(id: ComponentId, successor: ComponentId): Promise<void> {
    const { state, rpc, self } = this.#options;
    const targets = [...state.components.values()].filter((c) =>
      c.id !== id && c.id !== self && c.state === "up" &&
      (c.role === "processor" || c.role === "memory")
    );
    await Promise.allSettled(
      targets.map((c) => rpc.call(c.id, "MGR_FAILOVER", { id, successor }, { timeoutMs: 2000 })),
    );
  }
}
