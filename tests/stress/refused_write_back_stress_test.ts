/**
 * Defect 2 of issue 17: when memory refuses the write-back half of a piggybacked
 * `P2M_PAGE_FLUSH_FETCH` (the victim's range is no longer writable there), the thread that
 * was only fetching a legal line must get its line; only the victim's data may be lost.
 */

import assert from "node:assert/strict";
import { EventBus } from "../../kernel/events.ts";
import { RemoteError } from "../../kernel/errors.ts";
import type { MessageKind } from "../../kernel/messages.ts";
import type { MonitorContext } from "../../kernel/monitor.ts";
import { createFifo } from "../../plugins/replacement/fifo.ts";
import { ExCache } from "../../monitors/processor/excache.ts";
import { lineKey, RESPONSE } from "../../monitors/processor/layout.ts";
import type { Messenger } from "../../monitors/processor/messenger.ts";
import { PageService } from "../../monitors/processor/page_service.ts";
import { ProcessRecord, ThreadRecord } from "../../monitors/processor/records.ts";
import { repeat } from "./stress.ts";

const PAGE = 4096;
const BASE = 0x10000;

/** A one-line ExCache whose memory refuses every write-back of the line at BASE. */
function rig() {
  const kinds: MessageKind[] = [];
  const refuse = (kind: string) =>
    new RemoteError("m0", "EFAULT", `${kind}: segmentation fault: write to read-only 0x10000`);
  const messenger: Messenger = {
    call(_thread, _to, kind, body) {
      kinds.push(kind);
      const b = body as Record<string, unknown>;
      if (kind === "MGR_PLACE_VREGION") return Promise.resolve({ owner: "m0" } as never);
      if (kind === "P2M_PAGE_FLUSH_FETCH") return Promise.reject(refuse(kind));
      if (kind === "P2M_PAGE_FLUSH" && b.vaddr === BASE) return Promise.reject(refuse(kind));
      if (kind === "P2M_PAGE_FETCH") {
        return Promise.resolve({ page: new Uint8Array(PAGE).fill(7) } as never);
      }
      return Promise.resolve({} as never);
    },
  };
  const context = {
    id: "p0",
    manager: "gm",
    events: new EventBus(),
    latency: { deviceNs: () => 0, messageNs: () => 0, cacheHitNs: () => 0 },
    log: () => {},
  } as unknown as MonitorContext;
  const cache = new ExCache(1, 1, createFifo({ sets: 1, ways: 1 }));
  const process = new ProcessRecord({ pid: 1, home: "m0", workload: "w.ts", args: [] });
  process.vmas.map(BASE, BASE + 64 * PAGE, 3, false);
  const pages = new PageService(cache, undefined, {
    context,
    messenger,
    process: (pid) => (pid === 1 ? process : undefined),
    vregionBytes: () => 2 ** 30,
  });
  const thread = new ThreadRecord(process, 0, 0);
  process.threads.set(0, thread);
  return { kinds, cache, process, pages, thread };
}

for (const victimRange of ["still writable here", "read-only here"]) {
  Deno.test(`a refused victim write-back (victim ${victimRange}) does not fault the fetching thread`, async () => {
    await repeat(`refused write-back, victim ${victimRange}`, async () => {
      const r = rig();
      await r.pages.miss(r.thread, BASE, true); // p-local and dirty: the next miss evicts it
      r.thread.announce.fill(-1);
      if (victimRange === "read-only here") r.process.vmas.protect(BASE, BASE + PAGE, 1);
      r.process.flushed.add(BASE / PAGE + 1); // memory holds the line read next
      const response = await r.pages.miss(r.thread, BASE + PAGE, false);
      assert.equal(response, RESPONSE.MISS);
      const slot = r.cache.lookup(lineKey(1, BASE / PAGE + 1));
      assert.ok(slot >= 0, "the fetched line is resident");
      assert.equal(r.cache.views.u8[slot * PAGE], 7, "with memory's bytes");
      assert.ok(r.kinds.includes("P2M_PAGE_FETCH"), "the fetch went on alone");
      assert.equal(r.cache.slotOf(lineKey(1, BASE / PAGE)), -1, "the victim is gone");
      if (victimRange === "read-only here") {
        assert.equal(r.pages.stats.droppedVictims, 1);
        assert.equal(r.pages.stats.lostWriteBacks, 0);
      } else {
        assert.equal(r.pages.stats.lostWriteBacks, 1, "its write-back was tried alone");
      }
    });
  });
}
