import assert from "node:assert/strict";
import type { LatencyModel } from "../../kernel/latency.ts";
import { citedKeys, REFERENCES } from "../../plugins/latency/_sources.ts";
import { latencyModelPlugins } from "../../plugins/latency/mod.ts";
import { createStockRegistry } from "../../plugins/stock.ts";

const sourcesMd = await Deno.readTextFile(
  new URL("../../plugins/latency/SOURCES.md", import.meta.url),
);
/** `### A2` headings of SOURCES.md. */
const sections = new Set([...sourcesMd.matchAll(/^### ([A-Z]\d)$/gm)].map((m) => m[1]));
/** First cells of the constants table. */
const rows = new Set([...sourcesMd.matchAll(/^\| ([A-Za-z]+) +\|/gm)].map((m) => m[1]));

for (const plugin of latencyModelPlugins) {
  Deno.test(`every constant of ${plugin.name} cites a source listed in SOURCES.md`, async () => {
    const model = await createStockRegistry().create<LatencyModel>(
      "latency-model",
      plugin.name,
      {},
      {},
    );
    const sources = model.sources?.() ?? {};
    for (const [name, { source }] of Object.entries(model.describe())) {
      const keys = citedKeys(source);
      assert.ok(keys.length > 0, `${name} cites no source key: "${source}"`);
      for (const key of keys) {
        assert.ok(
          sections.has(key),
          `${name} cites ${key}, which has no "### ${key}" in SOURCES.md`,
        );
        assert.ok(REFERENCES[key], `${name} cites ${key}, which has no entry in _sources.ts`);
        assert.equal(sources[key], REFERENCES[key], `sources() gives ${key}`);
      }
      const option = name.split(".")[0];
      assert.ok(rows.has(option), `${option} has no row in SOURCES.md's constants table`);
    }
  });
}

Deno.test("a constant set by an option names the option and still its default's source", async () => {
  const model = await createStockRegistry().create<LatencyModel>(
    "latency-model",
    "legoos-ib",
    { cpuGhz: 3.0 },
    {},
  );
  const cpu = model.describe().cpuGhz;
  assert.equal(cpu.value, 3.0);
  assert.match(cpu.source, /^options\.cpuGhz \(default from C1/);
  assert.equal(model.roofline().flopsPerNs, 3.0 * 32);
});
