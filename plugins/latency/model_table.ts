/**
 * `deno task model [name] [--options JSON]`: prints every constant of a stock latency
 * model (default `legoos-ib`) with its value, unit and source, then the references the
 * sources cite (from `SOURCES.md`'s keys). With `--options`, the constants are those a
 * cluster config with these `latencyModel.options` would get.
 *
 * @example
 * ```ts
 * import { modelTable } from "./model_table.ts";
 * const text = await modelTable("legoos-ib", {});
 * console.assert(text.includes("rpcPoints.4096B") && text.includes("A2:"));
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { LatencyModel } from "../../kernel/latency.ts";
import { PluginRegistry } from "../../kernel/plugins.ts";
import { latencyModelPlugins } from "./mod.ts";

/**
 * The table of `name`'s constants with `options`, as text. Throws a `PluginError` naming
 * the problem for an unknown model or bad options.
 *
 * @example
 * ```ts
 * import { modelTable } from "./model_table.ts";
 * console.assert((await modelTable("ipoib", {})).startsWith("latency model ipoib"));
 * ```
 */
export async function modelTable(name: string, options: Record<string, unknown>): Promise<string> {
  const registry = new PluginRegistry();
  for (const plugin of latencyModelPlugins) registry.register(plugin);
  const model = await registry.create<LatencyModel>("latency-model", name, options, {});
  const rows = Object.entries(model.describe()).map(([key, c]) => [
    key,
    formatValue(c.value),
    c.unit,
    c.source,
  ]);
  const header = ["constant", "value", "unit", "source"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => i === 1 ? cell.padStart(widths[i]) : cell.padEnd(widths[i])).join("  ")
      .trimEnd();
  const roofline = model.roofline();
  const out = [
    `latency model ${model.name}: ${rows.length} constants`,
    "",
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map(line),
    "",
    `roofline of one core: ${formatValue(roofline.flopsPerNs)} GFLOP/s, ` +
    `${formatValue(roofline.bytesPerNs)} GB/s`,
    "",
    "sources (plugins/latency/SOURCES.md has each constant's derivation):",
    ...Object.entries(model.sources?.() ?? {}).map(([key, text]) => `  ${key}: ${text}`),
  ];
  return out.join("\n");
}

function formatValue(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toPrecision(6).replace(/\.?0+$/, "");
}

if (import.meta.main) {
  const usage = "usage: deno task model [legoos-ib|ipoib] [--options JSON]";
  try {
    const { values, positionals } = parseArgs({
      args: Deno.args,
      options: { options: { type: "string" }, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
    });
    if (values.help) {
      console.log(usage);
      Deno.exit(0);
    }
    if (positionals.length > 1) {
      throw new Error(`one model name at most, got ${positionals.join(" ")}`);
    }
    let options: Record<string, unknown> = {};
    if (values.options !== undefined) {
      try {
        options = JSON.parse(values.options);
      } catch (e) {
        throw new Error(`--options must be a JSON object: ${(e as Error).message}`);
      }
      if (typeof options !== "object" || options === null || Array.isArray(options)) {
        throw new Error("--options must be a JSON object");
      }
    }
    console.log(await modelTable(positionals[0] ?? "legoos-ib", options));
  } catch (e) {
    console.error(`model: ${(e as Error).message}\n${usage}`);
    Deno.exit(2);
  }
}
