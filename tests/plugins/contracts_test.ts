// The exported contract suites (testing/), run against the stock plugins they describe.
import {
  runLatencyModelContract,
  runMonitorContract,
  runPlacementPolicyContract,
} from "../../testing/mod.ts";
import { latencyModelPlugins } from "../../plugins/latency/mod.ts";
import { placementPlugins } from "../../plugins/placement/mod.ts";
import { flatLatencyPlugin } from "../../examples/plugins/flat_latency.ts";
import { managerMonitorPlugin } from "../../monitors/manager/mod.ts";
import { memoryMonitorPlugin } from "../../monitors/memory/mod.ts";
import { processorMonitorPlugin } from "../../monitors/processor/mod.ts";
import { storageMonitorPlugin } from "../../monitors/storage/mod.ts";
import type { PlacementContext } from "../../kernel/placement.ts";
import type { PluginDefinition } from "../../kernel/plugins.ts";

for (const plugin of placementPlugins) {
  // deno-lint-ignore no-explicit-any
  runPlacementPolicyContract(plugin as PluginDefinition<any, any, PlacementContext>);
}
for (const plugin of [...latencyModelPlugins, flatLatencyPlugin]) runLatencyModelContract(plugin);
runMonitorContract(processorMonitorPlugin);
// A DRAM pool of 1 MiB under a 2 MiB process: the memory check goes through swap.
runMonitorContract(memoryMonitorPlugin, { options: { dramBytes: 1 << 20 } });
runMonitorContract(storageMonitorPlugin);
runMonitorContract(managerMonitorPlugin);
