import assert from "node:assert/strict";
import { EventBus } from "../../../kernel/events.ts";
import type { MessageKind } from "../../../kernel/messages.ts";
import type { MonitorContext } from "../../../kernel/monitor.ts";
import { createFifo } from "../../../plugins/replacement/fifo.ts";
import { ExCache } from "../../../monitors/processor/excache.ts";
import { lineKey, RESPONSE, STATE_DIRTY } from "../../../monitors/processor/layout.ts";
import type { Messenger } from "../../../monitors/processor/messenger.ts";
import { PageService } from "../../../monitors/processor/page_service.ts";
import { ProcessRecord, ThreadRecord } from "../../../monitors/processor/records.ts";

const PAGE = 4096;
const BASE = 0x10000;

/** A page service over a 1-set cache whose messages wait for the test to let them go. */
function harness(lines: number) {
  const calls: { kind: MessageKind; body: Record<string, unknown> }[] = [];
  const gates: (() => void)[] = [];
  let hold = false;
  const messenger: Messenger = {
    async call(thread, _to, kind, body) {
      calls.push({ kind, body: body as Record<string, unknown> });
      thread.counters.messages++;
      if (hold && kind !== "MGR_PLACE_VREGION") await new Promise<void>((r) => gates.push(r));
      if (kind === "MGR_PLACE_VREGION") return { owner: "m0" } as never;
      if (kind === "P2M_PAGE_FETCH" || kind === "P2M_PAGE_FLUSH_FETCH") {
        return { page: new Uint8Array(PAGE).fill(7) } as never;
      }
      return {} as never;
    },
  };
  const context = {
    id: "p0",
    manager: "gm",
    events: new EventBus(),
    latency: { deviceNs: () => 0, messageNs: () => 0, cacheHitNs: () => 0 },
    log: () => {},
  } as unknown as MonitorContext;
  const cache = new ExCache(lines, lines, createFifo({ sets: 1, ways: lines }));
  const process = new ProcessRecord({ pid: 1, home: "m0", workload: "w.ts", args: [] });
  process.vmas.map(BASE, BASE + 64 * PAGE, 3, false);
  const pages = new PageService(cache, undefined, {
    context,
    messenger,
    process: (pid) => (pid === 1 ? process : undefined),
    vregionBytes: () => 2 ** 30,
  });
  const thread = (tid: number) => {
    const t = new ThreadRecord(process, tid, 0);
    process.threads.set(tid, t);
    return t;
  };
  return {
    calls,
    messenger,
    cache,
    process,
    pages,
    thread,
    holdMessages: (on: boolean) => hold = on,
    release: () => gates.splice(0).forEach((go) => go()),
    kinds: () => calls.map((c) => c.kind).filter((k) => k !== "MGR_PLACE_VREGION"),
  };
}

const tick = () => new Promise((r) => setTimeout(r, 1));

Deno.test("miss() lets two threads missing on the same line share one fetch", async () => {
  const h = harness(4);
  h.process.flushed.add(BASE / PAGE); // memory holds the line: it must be fetched
  const [t1, t2] = [h.thread(0), h.thread(1)];
  h.holdMessages(true);
  const first = h.pages.miss(t1, BASE, false);
  const second = h.pages.miss(t2, BASE + 100, false);
  await tick();
  h.release();
  assert.deepEqual(await Promise.all([first, second]), [RESPONSE.MISS, RESPONSE.MISS]);
  assert.deepEqual(h.kinds(), ["P2M_PAGE_FETCH"]);
  assert.equal(h.pages.stats.sharedFills, 1);
  const slot = h.cache.lookup(lineKey(1, BASE / PAGE));
  assert.ok(t1.announce.includes(slot) && t2.announce.includes(slot), "both threads pin it");
  assert.equal(h.cache.views.u8[slot * PAGE], 7);
  assert.equal(t1.counters.misses + t2.counters.misses, 2);
  assert.equal(t1.counters.pagesFetched + t2.counters.pagesFetched, 1);
});

Deno.test("missNow() serves at once a fetch answered within the send, a piggybacked dirty victim and a p-local zero fill, and leaves the rest to miss()", async () => {
  const h = harness(2);
  const now: MessageKind[] = [];
  h.messenger.callNow = (thread, _to, kind) => {
    now.push(kind);
    thread.counters.messages++;
    return { page: new Uint8Array(PAGE).fill(9) } as never;
  };
  h.process.owners.set(0, "m0"); // the vRegion's owner is known
  const t = h.thread(0);
  h.process.flushed.add(BASE / PAGE); // memory holds the line
  assert.equal(h.pages.missNow(t, BASE, false), RESPONSE.MISS);
  assert.equal(h.cache.views.u8[h.cache.lookup(lineKey(1, BASE / PAGE)) * PAGE], 9);
  assert.deepEqual([now, t.counters.pagesFetched, t.counters.misses], [["P2M_PAGE_FETCH"], 1, 1]);
  assert.equal(h.pages.missNow(t, BASE + 8 * PAGE, true), RESPONSE.MISS); // p-local
  assert.equal(t.counters.pLocalZeroFills, 1);
  assert.equal(h.pages.missNow(t, BASE, false), undefined, "a resident line is miss()'s");
  assert.equal(h.pages.missNow(t, 2 ** 30, false), undefined, "so is an unmapped one");
  t.announce.fill(-1);
  // The next victim (FIFO) is the clean fetched line: at once again.
  h.process.flushed.add(BASE / PAGE + 1);
  assert.equal(h.pages.missNow(t, BASE + PAGE, false), RESPONSE.MISS);
  t.announce.fill(-1);
  // Then the dirty p-local line: it goes back in the fetch's own message, at once too.
  h.process.flushed.add(BASE / PAGE + 2);
  assert.equal(h.pages.missNow(t, BASE + 2 * PAGE, true), RESPONSE.MISS);
  assert.deepEqual(now.at(-1), "P2M_PAGE_FLUSH_FETCH");
  assert.ok(h.process.flushed.has(BASE / PAGE + 8), "memory has the written-back line");
  assert.deepEqual([t.counters.evictions, t.counters.piggybacked, t.counters.misses], [2, 1, 4]);
  t.announce.fill(-1);
  // The oldest line (FIFO) is the clean one: p-local line 9 takes its way at once.
  assert.equal(h.pages.missNow(t, BASE + 9 * PAGE, false), RESPONSE.MISS);
  t.announce.fill(-1);
  // Then line 2, dirty, before p-local line 10: it must be written back on its own, which
  // may wait, so the fill goes on as a promise, through call().
  const later = h.pages.missNow(t, BASE + 10 * PAGE, false);
  assert.ok(later instanceof Promise);
  assert.equal(await later, RESPONSE.MISS);
  assert.deepEqual(h.kinds(), ["P2M_PAGE_FLUSH"]);
  assert.deepEqual([t.counters.evictions, t.counters.dirtyFlushes, t.counters.misses], [4, 2, 6]);
});

Deno.test("miss() zero-fills a p-local line without any message", async () => {
  const h = harness(2);
  const t = h.thread(0);
  assert.equal(await h.pages.miss(t, BASE + 8 * PAGE, true), RESPONSE.MISS);
  assert.deepEqual(h.calls, []);
  assert.equal(t.counters.pLocalZeroFills, 1);
  const slot = h.cache.lookup(lineKey(1, BASE / PAGE + 8));
  assert.ok(h.cache.stateAt(slot) & STATE_DIRTY);
});

Deno.test("miss() writes a dirty victim back in the same round trip as the fetch", async () => {
  const h = harness(1);
  const t = h.thread(0);
  await h.pages.miss(t, BASE, true); // p-local, dirty
  t.announce.fill(-1); // the thread moved on: nothing pinned
  h.process.flushed.add(BASE / PAGE + 1);
  await h.pages.miss(t, BASE + PAGE, false);
  assert.deepEqual(h.kinds(), ["P2M_PAGE_FLUSH_FETCH"]);
  assert.deepEqual(h.calls.at(-1)!.body.flushVaddr, BASE);
  assert.equal(t.counters.piggybacked, 1);
  assert.ok(h.process.flushed.has(BASE / PAGE), "memory now holds the written-back line");
});

Deno.test("miss() waits for a line's write-back to land before fetching it again", async () => {
  const h = harness(1);
  const t = h.thread(0);
  await h.pages.miss(t, BASE, true); // p-local, dirty
  t.announce.fill(-1);
  h.holdMessages(true);
  // Line 2 is p-local: evicting dirty line 0 needs a write-back alone, which we hold.
  const evicting = h.pages.miss(t, BASE + 2 * PAGE, false);
  await tick();
  assert.deepEqual(h.kinds(), ["P2M_PAGE_FLUSH"]);
  const other = h.thread(1);
  const refetch = h.pages.miss(other, BASE, false);
  await tick();
  assert.deepEqual(h.kinds(), ["P2M_PAGE_FLUSH"], "no fetch while the write-back is in flight");
  h.release();
  await evicting;
  t.announce.fill(-1);
  for (let i = 0; i < 10 && h.kinds().length < 2; i++) {
    await tick();
    h.release();
  }
  assert.equal(await refetch, RESPONSE.MISS);
  // Line 2 (p-local, never written) is the clean victim now: a plain fetch.
  assert.deepEqual(h.kinds(), ["P2M_PAGE_FLUSH", "P2M_PAGE_FETCH"]);
});

Deno.test("miss() refuses a write to a read-only range before any message", async () => {
  const h = harness(2);
  h.process.vmas.protect(BASE, BASE + PAGE, 1);
  await assert.rejects(h.pages.miss(h.thread(0), BASE, true), /EFAULT|segmentation fault/);
  assert.deepEqual(h.calls, []);
});
