/**
 * The control messages every component answers, whatever its monitor: `MGR_QUERY`
 * (`stats`, `transport`, or the monitor's own questions), `MGR_KILL`, `MGR_SET_POLICY`
 * and `MGR_STOP` (fault injection). The control plane reaches components only this way.
 *
 * @module
 */

import { KernelError } from "./errors.ts";
import type { Monitor } from "./monitor.ts";
import type { RpcNode } from "./rpc.ts";
import type { TransportEndpoint } from "./transport.ts";

/**
 * Registers the control handlers on `rpc` for `monitor`. `stop` is what `MGR_STOP` does
 * (it runs after the reply is sent, so the caller learns the stop was accepted).
 *
 * @example
 * ```ts ignore
 * serveComponentServices(rpc, monitor, endpoint, () => cluster.stopComponent(monitor.id));
 * ```
 */
export function serveComponentServices(
  rpc: RpcNode,
  monitor: Monitor,
  endpoint: TransportEndpoint,
  stop: () => Promise<void>,
): void {
  rpc.handle({
    MGR_QUERY: async ({ what, args }) => {
      const argsRecord = args !== null && typeof args === "object" && !Array.isArray(args)
        ? args as Record<string, unknown>
        : {};
      switch (what) {
        case "stats":
          return { result: monitor.stats() };
        case "transport": {
          const own = (endpoint as { stats?: () => unknown }).stats?.();
          return { result: { rpc: rpc.stats(), endpoint: own ?? null } };
        }
        default:
          if (!monitor.query) {
            throw new KernelError("ENOENT", `${monitor.id} answers no question "${what}"`);
          }
          return { result: (await monitor.query(what, argsRecord)) ?? null };
      }
    },
    MGR_KILL: async ({ pid }) => {
      if (!monitor.kill) throw new KernelError("EINVAL", `${monitor.id} runs no processes`);
      await monitor.kill(pid);
      return {};
    },
    MGR_SET_POLICY: async ({ kind, name }) => {
      if (!monitor.setPolicy) {
        throw new KernelError("EINVAL", `${monitor.id} has no run-time policy to switch`);
      }
      await monitor.setPolicy(kind, name);
      return {};
    },
    MGR_STOP: () => {
      // Reply first, then stop: the caller must not wait on a component that is leaving.
      setTimeout(() => stop().catch(() => {}), 0);
      return {};
    },
  });
}
