import assert from "node:assert/strict";
import { runPolicyContract } from "../../testing/replacement_contract.ts";
import { createFifo, fifoPlugin } from "../../plugins/replacement/fifo.ts";
import { UNREFERENCED } from "../../kernel/replacement.ts";
import { createLru, lruPlugin } from "../../plugins/replacement/lru.ts";
import { createRandom, mulberry32, randomPlugin } from "../../plugins/replacement/random.ts";

for (const plugin of [fifoPlugin, lruPlugin, randomPlugin]) runPolicyContract(plugin);

const all = (ways: number) => [...Array(ways).keys()];

Deno.test("fifo evicts the way filled longest ago, even if it was just used", () => {
  const fifo = createFifo({ sets: 2, ways: 4 });
  for (const way of [2, 0, 3, 1]) fifo.filled(0, way);
  const lastUse = [100, 0, 0, 0]; // way 2 is the oldest fill; recency is ignored
  assert.equal(fifo.victim(0, all(4), (w) => lastUse[w], UNREFERENCED), 2);
  fifo.removed(0, 2);
  fifo.filled(0, 2); // refilled: now the newest
  assert.equal(fifo.victim(0, all(4), () => 0, UNREFERENCED), 0);
  assert.equal(fifo.victim(0, [1, 2, 3], () => 0, UNREFERENCED), 3);
  // Another set keeps its own order.
  for (const way of [3, 2, 1, 0]) fifo.filled(1, way);
  assert.equal(fifo.victim(1, all(4), () => 0, UNREFERENCED), 3);
});

Deno.test("lru evicts the way used longest ago, breaking ties by fill order", () => {
  const lru = createLru({ sets: 1, ways: 4 });
  for (const way of [0, 1, 2, 3]) lru.filled(0, way);
  const lastUse = [40, 10, 30, 20];
  assert.equal(lru.victim(0, all(4), (w) => lastUse[w], UNREFERENCED), 1);
  assert.equal(lru.victim(0, [0, 2, 3], (w) => lastUse[w], UNREFERENCED), 3);
  // Equal stamps: the line filled first goes first.
  lru.removed(0, 0);
  lru.filled(0, 0);
  assert.equal(lru.victim(0, all(4), () => 7, UNREFERENCED), 1);
  assert.equal(lru.needsRecency, true);
});

Deno.test("random picks every candidate, roughly uniformly, repeatably for a seed", () => {
  const draws = (seed: number) => {
    const policy = createRandom({ sets: 1, ways: 4 }, { seed });
    return Array.from({ length: 4000 }, () => policy.victim(0, all(4), () => 0, UNREFERENCED));
  };
  const counts = [0, 0, 0, 0];
  for (const way of draws(9)) counts[way]++;
  for (const count of counts) assert.ok(count > 850 && count < 1150, `counts ${counts}`);
  assert.deepEqual(draws(9), draws(9));
  assert.notDeepEqual(draws(9), draws(10));
});

Deno.test("random takes its generator as an option (prng injection)", () => {
  const policy = createRandom({ sets: 1, ways: 4 }, { seed: 0 }, () => 0.99);
  assert.equal(policy.victim(0, [0, 2, 3], () => 0, UNREFERENCED), 3);
  const a = mulberry32(1);
  assert.ok(Array.from({ length: 100 }, a).every((x) => x >= 0 && x < 1));
});
