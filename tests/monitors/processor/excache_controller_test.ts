import assert from "node:assert/strict";
import { createFifo } from "../../../plugins/replacement/fifo.ts";
import { createLru } from "../../../plugins/replacement/lru.ts";
import { ExCache, type PinHolder } from "../../../monitors/processor/excache.ts";
import { STATE_DIRTY, TLB_ENTRIES } from "../../../monitors/processor/layout.ts";

/** A thread's TLB that drops its pins when asked (after `delay` ms). */
function holder(delay = 1): PinHolder & { asked: number } {
  const announce = new Int32Array(TLB_ENTRIES).fill(-1);
  const h = {
    announce,
    asked: 0,
    gone: () => false,
    requestShootdown() {
      h.asked++;
      setTimeout(() => announce.fill(-1), delay);
    },
  };
  return h;
}

async function fill(cache: ExCache, set: number, key: number, bits = 0): Promise<number> {
  const { slot } = await cache.allocate(set);
  cache.install(slot, key, null, bits);
  cache.release(slot);
  return slot;
}

Deno.test("allocate() fills free ways first, then asks the policy for a victim", async () => {
  const cache = new ExCache(4, 2, createFifo({ sets: 2, ways: 2 }));
  const a = await fill(cache, 0, 10);
  const b = await fill(cache, 0, 11);
  assert.deepEqual([a, b], [0, 1]);
  const { slot, victim } = await cache.allocate(0);
  assert.equal(slot, a, "fifo: the first line filled goes");
  assert.equal(victim?.key, 10);
  assert.equal(cache.lookup(10), -1);
  assert.equal(cache.slotOf(11), b);
  cache.discard(slot);
  assert.equal(cache.used, 1);
});

Deno.test("allocate() skips a line a thread pins when another victim will do", async () => {
  const cache = new ExCache(2, 2, createFifo({ sets: 1, ways: 2 }));
  const pinner = holder();
  cache.addHolder(pinner);
  const oldest = await fill(cache, 0, 1);
  await fill(cache, 0, 2);
  pinner.announce[0] = oldest;
  const { victim } = await cache.allocate(0);
  assert.equal(victim?.key, 2);
  assert.equal(pinner.asked, 0, "no shootdown needed");
});

Deno.test("allocate() shoots down pins when every way is pinned, and waits for them", async () => {
  const cache = new ExCache(2, 2, createFifo({ sets: 1, ways: 2 }));
  const pinner = holder(3);
  cache.addHolder(pinner);
  pinner.announce[0] = await fill(cache, 0, 1);
  pinner.announce[1] = await fill(cache, 0, 2);
  const { victim } = await cache.allocate(0);
  assert.equal(victim?.key, 1);
  assert.ok(pinner.asked >= 1);
  assert.equal(cache.views.evicting[0], 1, "the slot stays held for the caller");
});

Deno.test("acquire(), clean() and takeOut() give the monitor exclusive use of a line", async () => {
  const cache = new ExCache(2, 2, createLru({ sets: 1, ways: 2 }));
  const slot = await fill(cache, 0, 9, STATE_DIRTY);
  cache.views.u8[slot * 4096] = 42;
  assert.equal(await cache.acquire(9), slot);
  assert.equal(cache.lookup(9), -1, "held lines are not handed to threads");
  const copy = cache.clean(slot);
  assert.equal(copy?.[0], 42);
  assert.equal(cache.clean(slot), undefined, "clean now");
  cache.release(slot);
  assert.equal(cache.lookup(9), slot);
  await cache.acquire(9);
  const line = cache.takeOut(slot);
  cache.discard(slot);
  assert.equal(line.key, 9);
  assert.equal(await cache.acquire(9), -1);
});

Deno.test("lastUse() is the newest of the fill stamp and every thread's stamp", async () => {
  const cache = new ExCache(2, 2, createLru({ sets: 1, ways: 2 }));
  const stamps = new Float64Array(2);
  cache.addStamps(stamps);
  const a = await fill(cache, 0, 1);
  const b = await fill(cache, 0, 2);
  assert.ok(cache.lastUse(b) > cache.lastUse(a));
  stamps[a] = cache.lastUse(b) + 1;
  const { victim } = await cache.allocate(0);
  assert.equal(victim?.key, 2, "lru: line 1 was touched after line 2 was filled");
});

Deno.test("an ExCache rejects a geometry that does not split into sets", () => {
  assert.throws(() => new ExCache(6, 4, createFifo({ sets: 1, ways: 4 })), /do not split/);
  assert.throws(() => new ExCache(0, 1, createFifo({ sets: 1, ways: 1 })), /lines >= 1/);
});
