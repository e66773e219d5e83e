/**
 * Runs one workload (`hot_and_scan.ts`) under FIFO, LRU and the CLOCK policy of
 * `clock.ts`, loaded the way `--plugin` loads it, on the cluster of `clock.cluster.json`
 * (a 64-line, fully associative ExCache), and prints a small table.
 *
 * ```sh
 * npx -y deno@2.9.6 run -A examples/custom-policy/compare.ts [hot] [scan] [rounds]
 * ```
 *
 * @module
 */

import {
  type ClusterConfigInput,
  createStockRegistry,
  loadPluginModule,
  startCluster,
} from "../../mod.ts";

const here = (path: string) => new URL(path, import.meta.url);
const args = Deno.args.length ? Deno.args : ["24", "400", "4"];

/** One policy's run. */
export interface PolicyRow {
  /** The replacement policy. */
  policy: string;
  /** Accesses (hits and misses). */
  accesses: number;
  /** Misses. */
  misses: number;
  /** Model time of the run, ns. */
  modelNs: number;
}

/** Runs the workload under `policy`; the CLOCK plugin is loaded from `clock.ts`. */
export async function runPolicy(policy: string, workloadArgs: string[]): Promise<PolicyRow> {
  const registry = createStockRegistry();
  await loadPluginModule(here("./clock.ts").href, registry); // what --plugin does
  const config = JSON.parse(
    await Deno.readTextFile(here("./clock.cluster.json")),
  ) as ClusterConfigInput;
  const processor = config.components.find((c) => c.role === "processor")!;
  processor.options = { ...processor.options, replacement: policy };
  const cluster = await startCluster(config, { registry, log: () => {} });
  try {
    const result = await cluster.run(here("./hot_and_scan.ts").href, workloadArgs);
    if (result.exitCode !== 0) throw new Error(`${policy}: exit ${result.exitCode}`);
    const { hits, misses } = result.stats;
    return { policy, accesses: hits + misses, misses, modelNs: result.modelNs };
  } finally {
    await cluster.stop();
  }
}

if (import.meta.main) {
  const rows: PolicyRow[] = [];
  for (const policy of ["fifo", "lru", "clock"]) {
    console.error(`running hot_and_scan.ts ${args.join(" ")} under ${policy} ...`);
    rows.push(await runPolicy(policy, args));
  }
  console.log("policy  accesses  misses  miss rate  model time");
  for (const r of rows) {
    console.log(
      `${r.policy.padEnd(6)}  ${String(r.accesses).padStart(8)}  ${String(r.misses).padStart(6)}  ${
        (100 * r.misses / r.accesses).toFixed(1).padStart(8)
      }%  ${(r.modelNs / 1e6).toFixed(2).padStart(7)} ms`,
    );
  }
}
