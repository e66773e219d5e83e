/**
 * `deno task fuzz`: every fuzz target for 100 000 cases (or `--cases N`), from one seed
 * (`--seed S`, printed so a failure can be replayed), with a progress line per batch and
 * a summary at the end. Exits 1 when a target fails.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { FUZZ_TARGETS } from "./targets.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    cases: { type: "string", default: "100000" },
    seed: { type: "string" },
    only: { type: "string" },
  },
});
const cases = Number(values.cases);
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
if (!Number.isInteger(cases) || cases < 1 || !Number.isInteger(seed)) {
  console.error(
    "usage: deno task fuzz [--cases N] [--seed S] [--only codec|config|frame-reader|http]",
  );
  Deno.exit(2);
}
const BATCH = 5000;
console.log(`fuzz: ${cases} cases per target, seed ${seed}`);
const summary: { target: string; cases: number; seconds: number; result: string }[] = [];
let failed = false;
for (const target of FUZZ_TARGETS) {
  if (values.only && values.only !== target.name) continue;
  const started = performance.now();
  let done = 0;
  let result = "ok";
  for (let batch = 0; done < cases; batch++) {
    const n = Math.min(BATCH, cases - done);
    try {
      await target.run(n, seed + batch);
    } catch (e) {
      result = "FAILED";
      failed = true;
      console.error(`fuzz ${target.name}: failed in batch ${batch} (seed ${seed + batch}):`);
      console.error((e as Error).message);
      break;
    }
    done += n;
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `fuzz ${target.name}: ${done}/${cases} cases (${Math.round(done / seconds)}/s)`,
    );
  }
  summary.push({
    target: target.name,
    cases: done,
    seconds: Math.round((performance.now() - started) / 100) / 10,
    result,
  });
}
console.log("\nfuzz summary (seed " + seed + ")");
for (const s of summary) {
  console.log(
    `  ${s.target.padEnd(13)} ${String(s.cases).padStart(7)} cases  ${
      String(s.seconds).padStart(6)
    } s  ${s.result}`,
  );
}
console.log(failed ? "fuzz: FAILED" : "fuzz: every case ended in a result or a typed error");
Deno.exit(failed ? 1 : 0);
