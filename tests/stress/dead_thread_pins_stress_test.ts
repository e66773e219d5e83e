/**
 * Defect 6 of issue 17: a stopped thread's pins must keep their slots from reuse until
 * the thread proves it is gone (a terminated Worker may run on for any time), however
 * long that takes; once it has, the slots are used again.
 */

import assert from "node:assert/strict";
import { createFifo } from "../../plugins/replacement/fifo.ts";
import { ExCache, type PinHolder } from "../../monitors/processor/excache.ts";
import { TLB_ENTRIES } from "../../monitors/processor/layout.ts";
import { repeat } from "./stress.ts";

/** A thread that was stopped while pinning, and never lets go until told it is gone. */
function zombie(): PinHolder & { isGone: boolean; asked: number } {
  const z = {
    announce: new Int32Array(TLB_ENTRIES).fill(-1),
    isGone: false,
    asked: 0,
    gone: () => z.isGone,
    requestShootdown: () => void z.asked++,
  };
  return z;
}

async function fill(cache: ExCache, key: number): Promise<number> {
  const { slot } = await cache.allocate(0);
  cache.install(slot, key, null, 0);
  cache.release(slot);
  return slot;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("a slot a stopped thread pins is not reused until the thread proves it is gone", async () => {
  await repeat("dead thread pins", async () => {
    const cache = new ExCache(2, 2, createFifo({ sets: 1, ways: 2 }));
    const dead = zombie();
    cache.addHolder(dead);
    const pinned = await fill(cache, 5);
    await fill(cache, 6);
    dead.announce[0] = pinned;
    cache.retireHolder(dead);
    await sleep(60); // longer than any grace period
    for (let k = 0; k < 4; k++) {
      const { slot, victim } = await cache.allocate(0);
      assert.notEqual(slot, pinned, "the stopped thread's slot was handed to another line");
      assert.notEqual(victim?.key, 5);
      cache.install(slot, 100 + k, null, 0);
      cache.release(slot);
    }
    // Its process ends: the line leaves the cache, but the slot stays out of the free list.
    const held = await cache.acquire(5);
    assert.equal(held, pinned);
    cache.takeOut(held);
    cache.discard(held);
    assert.equal(cache.quarantined, 1);
    const next = await cache.allocate(0);
    assert.notEqual(next.slot, pinned, "a quarantined slot was reused");
    cache.discard(next.slot);
    // The thread proves it is gone: its slot is used again.
    dead.isGone = true;
    dead.announce.fill(-1);
    const slots = new Set<number>();
    for (let k = 0; k < 2; k++) slots.add((await cache.allocate(0)).slot);
    assert.ok(slots.has(pinned), "the slot came back once the thread was gone");
    assert.equal(cache.quarantined, 0);
  });
});

Deno.test("a set whose every way a stopped thread pins fails the fill with ENOMEM instead of hanging", async () => {
  const cache = new ExCache(1, 1, createFifo({ sets: 1, ways: 1 }));
  const dead = zombie();
  cache.addHolder(dead);
  dead.announce[0] = await fill(cache, 5);
  cache.retireHolder(dead);
  await assert.rejects(cache.allocate(0), (e: Error & { code?: string }) => {
    assert.equal(e.code, "ENOMEM");
    assert.match(e.message, /stopped threads/);
    return true;
  });
});
