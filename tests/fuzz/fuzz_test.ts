import { FUZZ_TARGETS } from "./targets.ts";

// A few hundred cases of each target; `deno task fuzz` runs 100 000.
const CASES = 300;
const SEED = 19;

for (const target of FUZZ_TARGETS) {
  Deno.test(`fuzz ${target.name}: ${CASES} cases end in a result or a typed error`, async () => {
    await target.run(CASES, SEED);
  });
}
