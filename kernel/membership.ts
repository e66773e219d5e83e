/**
 * Joining the cluster and heartbeating: what every non-manager monitor does on start.
 *
 * @module
 */

import type { MonitorContext } from "./monitor.ts";

/** A live membership: heartbeats run until `leave()`. */
export interface Membership {
  /** Heartbeat period the manager asked for, in milliseconds. */
  readonly heartbeatMs: number;
  /** Size of a vRegion in this cluster, in bytes (the manager decides it for everyone). */
  readonly vregionBytes: number;
  /** Stops heartbeating. Idempotent. */
  leave(): void;
}

/**
 * Announces this component to the manager (`MGR_JOIN`) with its capacity, then sends
 * `MGR_HEARTBEAT` with `load()` every period the manager asked for. A failed heartbeat is
 * logged, not fatal: the manager decides when a component is down.
 *
 * @example
 * ```ts ignore
 * const membership = await joinCluster(context, { dramBytes: 1 << 30 }, () => ({ used: 0 }));
 * membership.leave();
 * ```
 */
export async function joinCluster(
  context: MonitorContext,
  capacity: Record<string, unknown>,
  load: () => Record<string, unknown>,
): Promise<Membership> {
  const join = () =>
    context.rpc.call(context.manager, "MGR_JOIN", {
      role: context.role,
      capacity,
      addresses: { ...context.endpoint?.addresses },
    });
  const { heartbeatMs, vregionBytes } = await join();
  const interval = setInterval(() => {
    context.rpc.call(context.manager, "MGR_HEARTBEAT", { load: load() }, {
      timeoutMs: heartbeatMs * 2,
    }).catch((e) => {
      context.log(`heartbeat failed: ${(e as Error).message}`);
      // A manager that restarted no longer knows us: announce ourselves again.
      if ((e as { code?: string }).code === "ENOENT") {
        join().catch((err) => context.log(`re-join failed: ${(err as Error).message}`));
      }
    });
  }, heartbeatMs);
  // Heartbeats alone must not keep a finished program alive.
  Deno.unrefTimer(interval);
  let timer: typeof interval | undefined = interval;
  return {
    heartbeatMs,
    vregionBytes,
    leave() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
    },
  };
}
