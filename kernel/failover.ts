/**
 * Following a memory component's work to its successor after a failover: what processors
 * (page service, system calls) and homes (talking to vRegion owners) do when the
 * component they call stops answering.
 *
 * Two things tell a caller that its destination is gone: the call fails as unreachable
 * (the connection broke, the reply timed out, or a restarted component that has not
 * joined yet answers `EAGAIN`), or the manager announces the failover (`MGR_FAILOVER`,
 * fed to a {@link FailoverWatch}) while the call is still waiting — an in-memory peer that
 * vanished never answers at all. Either way the caller asks the manager
 * (`MGR_REPLICA_INFO`) where the work went and retries there; RPC de-duplication and the
 * idempotence of page flushes and fetches make the retry safe. While the manager has not
 * yet declared the destination down, or is still promoting its secondary, the caller
 * waits and asks again; a destination that is down with no replica fails the call.
 *
 * @module
 */

import { KernelError } from "./errors.ts";
import type { ComponentId } from "./ids.ts";
import type { RpcNode } from "./rpc.ts";

/** Error codes that mean "the destination may be gone", not "it refused". */
const UNREACHABLE = new Set(["EHOSTUNREACH", "ETIMEDOUT", "EAGAIN", "ECONNRESET", "ECONNREFUSED"]);

/** How long a caller follows a failover before it gives up (ms). */
export const FAILOVER_DEADLINE_MS = 60_000;

/**
 * Whether `error` says the destination could not be reached (it may have failed).
 *
 * @example
 * ```ts
 * import { isUnreachable } from "./failover.ts";
 * import { KernelError } from "./errors.ts";
 * console.assert(isUnreachable(new KernelError("EHOSTUNREACH", "gone")));
 * console.assert(!isUnreachable(new KernelError("EFAULT", "segmentation fault")));
 * ```
 */
export function isUnreachable(error: unknown): boolean {
  return error instanceof KernelError && UNREACHABLE.has(error.code);
}

/**
 * Failovers a component has heard of from the manager, and the calls waiting on them.
 *
 * @example
 * ```ts
 * import { FailoverWatch } from "./failover.ts";
 * const watch = new FailoverWatch();
 * const gone = watch.gone("m0");
 * watch.notify("m0", "m1");
 * console.assert((await gone) === "m1");
 * ```
 */
export class FailoverWatch {
  /** One promise per component waited on, shared by all its callers. */
  readonly #gone = new Map<ComponentId, { promise: Promise<string>; resolve(s: string): void }>();
  readonly #listeners: ((id: ComponentId, successor: string) => void)[] = [];

  /** Resolves with the successor ("" for none) when `id` is next announced gone. */
  gone(id: ComponentId): Promise<string> {
    let entry = this.#gone.get(id);
    if (!entry) {
      let resolve!: (s: string) => void;
      const promise = new Promise<string>((r) => resolve = r);
      this.#gone.set(id, entry = { promise, resolve });
    }
    return entry.promise;
  }

  /** Calls `listener` for every announcement (to rewrite cached routes). */
  listen(listener: (id: ComponentId, successor: string) => void): void {
    this.#listeners.push(listener);
  }

  /** The manager announced that `id` is gone and its work is at `successor` ("": nowhere). */
  notify(id: ComponentId, successor: string): void {
    for (const listener of this.#listeners) listener(id, successor);
    const entry = this.#gone.get(id);
    this.#gone.delete(id);
    entry?.resolve(successor);
  }
}

/** What {@link followFailover} needs. */
export interface FollowOptions<T> {
  /** RPC, to ask the manager. */
  rpc: RpcNode;
  /** The manager's id. */
  manager: ComponentId;
  /** Announcements from the manager. */
  watch: FailoverWatch;
  /** The process the call is for (0: none), for the manager's answer about its home. */
  pid: number;
  /** The destination to try first. */
  to: ComponentId;
  /** One attempt at `to`. */
  attempt(to: ComponentId): Promise<T>;
  /**
   * Whether a failure that is not "unreachable" may still mean a stale destination (e.g.
   * `EFAULT` from a restarted, empty component): retried only when the manager names a
   * successor.
   */
  maybeStale?(error: unknown): boolean;
  /** Told when the work of `from` is found at `to`, before the retry. */
  moved?(from: ComponentId, to: ComponentId): void;
  /** Give up after this long (default {@link FAILOVER_DEADLINE_MS}). */
  deadlineMs?: number;
}

/**
 * Runs `attempt(to)`, following `to`'s work to its successor when `to` turns out to be
 * gone (see the module text). Resolves with the first attempt that succeeds; rejects with
 * a failure that is not about reachability, or when `to` is down with no replica.
 *
 * @example
 * ```ts ignore
 * const page = await followFailover({ rpc, manager: "gm", watch, pid: 1, to: "m0",
 *   attempt: (to) => rpc.call(to, "P2M_PAGE_FETCH", { pid: 1, vaddr }) });
 * ```
 */
export async function followFailover<T>(options: FollowOptions<T>): Promise<T> {
  const { rpc, manager, watch, pid } = options;
  const deadline = performance.now() + (options.deadlineMs ?? FAILOVER_DEADLINE_MS);
  let to = options.to;
  let waitMs = 10;
  for (;;) {
    let failure: unknown;
    let announced: string | undefined;
    const gone = watch.gone(to);
    const call = options.attempt(to);
    try {
      const raced = await Promise.race([
        call.then((value) => ({ value })),
        gone.then((successor) => ({ successor })),
      ]);
      if ("value" in raced) return raced.value;
      call.catch(() => {}); // abandoned: its late failure matters to nobody
      announced = raced.successor;
    } catch (e) {
      failure = e;
    }
    const stale = failure !== undefined && !isUnreachable(failure);
    if (stale && !options.maybeStale?.(failure)) throw failure;
    let next = announced || undefined;
    let state = "down";
    let secondary = "";
    if (next === undefined) {
      const info = await rpc.call(manager, "MGR_REPLICA_INFO", { id: to, pid }, {
        timeoutMs: 5000,
      }).catch(() => undefined);
      if (info) {
        next = info.successor || undefined;
        state = info.state;
        secondary = info.secondary;
      } else state = "unknown";
    }
    if (next !== undefined && next !== to) {
      options.moved?.(to, next);
      to = next;
      waitMs = 10;
      continue;
    }
    if (stale) throw failure;
    if (state === "down" && secondary === "") {
      // Down, and nothing to fail over to: the failure stands.
      throw failure ?? new KernelError("EHOSTDOWN", `${to} is down and has no replica`);
    }
    if (performance.now() > deadline) {
      throw new KernelError(
        "EHOSTDOWN",
        `${to} has not answered and no failover to a replica completed in time` +
          (failure ? `: ${(failure as Error).message}` : ""),
      );
    }
    // Not declared down yet, or its secondary is being promoted: ask again shortly.
    await new Promise((resolve) => setTimeout(resolve, waitMs));
    waitMs = Math.min(waitMs * 2, 250);
  }
}
