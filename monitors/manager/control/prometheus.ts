/**
 * The Prometheus exposition at `/metrics`: the metrics registry as monitors update it,
 * plus gauges derived from the managers' state (components up, processes by state) and
 * the numeric figures of each component's latest heartbeat.
 *
 * @module
 */

import type { ClusterSnapshot } from "../cluster_state.ts";
import type { MetricsRegistry } from "../../../kernel/metrics.ts";

const escapeLabel = (v: string) =>
  v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');

/** `camelCase` or odd characters to a Prometheus-safe `snake_case` name part. */
function snake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/[^a-zA-Z0-9_]/g, "_")
    .toLowerCase();
}

/**
 * Renders the whole exposition text.
 *
 * @example
 * ```ts
 * import { renderPrometheus } from "./prometheus.ts";
 * import { MetricsRegistry } from "../../../kernel/metrics.ts";
 * const text = renderPrometheus(new MetricsRegistry(), {
 *   components: [], processes: [], vregions: [], files: [],
 * });
 * console.assert(text.includes("# TYPE legoemu_cluster_components gauge"));
 * ```
 */
export function renderPrometheus(metrics: MetricsRegistry, snapshot: ClusterSnapshot): string {
  const lines: string[] = [];
  const family = (name: string, help: string, samples: [Record<string, string>, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, value] of samples) {
      const text = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",");
      lines.push(`${name}${text ? `{${text}}` : ""} ${value}`);
    }
  };
  family(
    "legoemu_cluster_components",
    "Components known to the managers, by role and state.",
    countBy(snapshot.components.map((c) => ({ role: c.role, state: c.state }))),
  );
  family(
    "legoemu_cluster_processes",
    "Processes placed by the managers, by state.",
    countBy(snapshot.processes.map((p) => ({ state: p.state }))),
  );
  family(
    "legoemu_component_up",
    "1 when the component is up, 0 when the managers declared it down.",
    snapshot.components.map((c) => [{ component: c.id, role: c.role }, c.state === "up" ? 1 : 0]),
  );
  // Each numeric heartbeat figure becomes one gauge family, named by role and field.
  const loadFamilies = new Map<string, [Record<string, string>, number][]>();
  for (const c of snapshot.components) {
    for (const [field, value] of Object.entries(c.load ?? {})) {
      if (typeof value !== "number" || !Number.isFinite(value)) continue;
      const name = `legoemu_${c.role}_${snake(field)}`;
      if (!loadFamilies.has(name)) loadFamilies.set(name, []);
      loadFamilies.get(name)!.push([{ component: c.id }, value]);
    }
  }
  for (const [name, samples] of [...loadFamilies].sort(([a], [b]) => a.localeCompare(b))) {
    family(name, "Latest value reported in the component's heartbeat.", samples);
  }
  const own = metrics.toPrometheus();
  return lines.join("\n") + "\n" + own;
}

function countBy(items: Record<string, string>[]): [Record<string, string>, number][] {
  const counts = new Map<string, [Record<string, string>, number]>();
  for (const labels of items) {
    const key = JSON.stringify(labels);
    const entry = counts.get(key) ?? [labels, 0];
    entry[1]++;
    counts.set(key, entry);
  }
  return [...counts.values()];
}
