/**
 * A global manager in this process on the TCP transport at an ephemeral port, booted the way
 * `legoemu component --role manager` boots it: the rig the tests that kill real component
 * processes (failure, PMEM crash) start their cluster around.
 *
 * @module
 */
import { type RunningComponent, startComponentProcess } from "../kernel/component_process.ts";
import type { PluginRegistry } from "../kernel/plugins.ts";

/**
 * Starts manager `gm` of cluster `cluster`, proving `secretFile` to its peers; `options`
 * are the manager's (e.g. a short `heartbeatMs` for failure tests).
 */
export function startTcpManager(
  cluster: string,
  registry: PluginRegistry,
  secretFile: string,
  log: (id: string, line: string) => void,
  options: Record<string, unknown> = {},
): Promise<RunningComponent> {
  return startComponentProcess(
    {
      cluster,
      component: {
        id: "gm",
        role: "manager",
        kind: "manager-monitor",
        plugin: "manager",
        options: registry.parseOptions("manager-monitor", "manager", options, "options"),
      },
      transport: { kind: "transport", plugin: "tcp", options: { pingIntervalMs: 0 } },
      latencyModel: { kind: "latency-model", plugin: "legoos-ib", options: {} },
      manager: { id: "gm" },
      listen: "127.0.0.1:0",
      secretFile,
    },
    registry,
    log,
  );
}
