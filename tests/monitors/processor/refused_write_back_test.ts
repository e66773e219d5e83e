/**
 * Issue 18, "a full memory component loses data silently": a dirty write-back that memory
 * refuses (`onFull: "enomem"`, swap full) must never be dropped. The line stays resident
 * and dirty, what needed its room fails with ENOMEM, and the refusals are logged once
 * with a count, not once per page.
 */

import assert from "node:assert/strict";
import { EventBus } from "../../../kernel/events.ts";
import { KernelError, RemoteError } from "../../../kernel/errors.ts";
import type { MonitorContext } from "../../../kernel/monitor.ts";
import { startCluster } from "../../../mod.ts";
import { createFifo } from "../../../plugins/replacement/fifo.ts";
import { ExCache } from "../../../monitors/processor/excache.ts";
import { lineKey, RESPONSE, STATE_DIRTY } from "../../../monitors/processor/layout.ts";
import type { Messenger } from "../../../monitors/processor/messenger.ts";
import { PageService } from "../../../monitors/processor/page_service.ts";
import { ProcessRecord, ThreadRecord } from "../../../monitors/processor/records.ts";

const PAGE = 4096;
const BASE = 0x10000;

/** A one-line ExCache whose memory refuses every write-back with ENOMEM while `full`. */
function rig() {
  const memory = { full: true, flushed: new Map<number, number>() };
  const logs: string[] = [];
  const full = (kind: string) =>
    new RemoteError("m0", "ENOMEM", `${kind}: m0: the DRAM pool of 2 frames is full`);
  const messenger: Messenger = {
    call(_thread, _to, kind, body) {
      const b = body as Record<string, unknown>;
      if (kind === "MGR_PLACE_VREGION") return Promise.resolve({ owner: "m0" } as never);
      if (kind === "P2M_PAGE_FLUSH" || kind === "P2M_PAGE_FLUSH_FETCH") {
        if (memory.full) return Promise.reject(full(kind));
        const vaddr = (b.vaddr ?? b.flushVaddr) as number;
        memory.flushed.set(vaddr, (b.page as Uint8Array)[0]);
        return Promise.resolve({ page: new Uint8Array(PAGE) } as never);
      }
      if (kind === "P2M_PAGE_FETCH") {
        return Promise.resolve({ page: new Uint8Array(PAGE) } as never);
      }
      return Promise.resolve({} as never);
    },
  };
  const context = {
    id: "p0",
    manager: "gm",
    events: new EventBus(),
    latency: { deviceNs: () => 0, messageNs: () => 0, cacheHitNs: () => 0 },
    log: (line: string) => logs.push(line),
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
  /** Writes `byte` at the start of the resident line at `vaddr` (as the workload would). */
  const write = async (vaddr: number, byte: number) => {
    await pages.miss(thread, vaddr, true);
    thread.announce.fill(-1);
    cache.views.u8[cache.slotOf(lineKey(1, vaddr / PAGE)) * PAGE] = byte;
  };
  return { memory, logs, cache, process, pages, thread, write };
}

Deno.test("a refused victim write-back keeps the line dirty and fails the miss with ENOMEM", async () => {
  const r = rig();
  await r.write(BASE, 0x5a);
  for (let attempt = 0; attempt < 5; attempt++) {
    await assert.rejects(
      r.pages.miss(r.thread, BASE + PAGE, false),
      (e: unknown) => {
        assert.ok(e instanceof KernelError, `a KernelError, got ${e}`);
        assert.equal(e.code, "ENOMEM");
        assert.match(e.message, /out of memory.*refused the write-back.*kept in the ExCache/);
        return true;
      },
    );
    const slot = r.cache.slotOf(lineKey(1, BASE / PAGE));
    assert.ok(slot >= 0, "the refused line is still resident");
    assert.equal(r.cache.views.u8[slot * PAGE], 0x5a, "with the process's last write");
    assert.ok((r.cache.stateAt(slot) & STATE_DIRTY) !== 0, "and still dirty");
  }
  assert.equal(r.pages.stats.refusedWriteBacks, 5);
  assert.equal(r.pages.stats.lostWriteBacks, 0);
  assert.equal(r.logs.filter((l) => l.includes("refused")).length, 1, r.logs.join("\n"));

  // Room is made: the kept line reaches memory with its data and the miss is served.
  r.memory.full = false;
  assert.equal(await r.pages.miss(r.thread, BASE + PAGE, false), RESPONSE.MISS);
  assert.equal(r.memory.flushed.get(BASE), 0x5a, "memory got the kept bytes");
  assert.ok(r.logs.some((l) => /after refusing 5/.test(l)), r.logs.join("\n"));
});

Deno.test("msync and munmap-like drops keep refused lines dirty and fail with ENOMEM", async () => {
  for (const action of ["keep", "drop"] as const) {
    const r = rig();
    await r.write(BASE, 0x33);
    await assert.rejects(
      r.pages.syncRange(r.thread, r.process, BASE, BASE + PAGE, () => action),
      (e: unknown) => e instanceof KernelError && e.code === "ENOMEM",
    );
    const slot = r.cache.slotOf(lineKey(1, BASE / PAGE));
    assert.ok(slot >= 0, `${action}: the refused line is still resident`);
    assert.equal(r.cache.views.u8[slot * PAGE], 0x33);
    assert.ok((r.cache.stateAt(slot) & STATE_DIRTY) !== 0, `${action}: and still dirty`);
    r.memory.full = false;
    await r.pages.syncRange(r.thread, r.process, BASE, BASE + PAGE, () => action);
    assert.equal(r.memory.flushed.get(BASE), 0x33, `${action}: memory got the bytes`);
  }
});

Deno.test('a process writing more than a full memory holds (onFull "enomem") gets ENOMEM, never zeros', async () => {
  const demo = new URL("../../../examples/workloads/demo.ts", import.meta.url).href;
  const logs: string[] = [];
  const cluster = await startCluster({
    components: [
      { id: "gm", role: "manager" },
      { id: "p0", role: "processor", options: { cacheBytes: 65536 } },
      // 64 frames of memory for the demo's 256 pages, and no swap.
      { id: "m0", role: "memory", options: { dramBytes: 64 * PAGE, onFull: "enomem" } },
      { id: "s0", role: "storage" },
    ],
  }, { log: (id, line) => logs.push(`[${id}] ${line}`) });
  try {
    const result = await cluster.run(demo, ["1"]);
    assert.notEqual(result.exitCode, 0);
    assert.match(result.error ?? "", /ENOMEM|out of memory/, result.error);
    assert.ok(!logs.some((l) => /pages written and verified/.test(l)), "it never read zeros");
    const refusals = logs.filter((l) => / refused, the line stays dirty/.test(l));
    assert.ok(refusals.length <= 1, `logged once, not per page:\n${refusals.join("\n")}`);
    assert.ok(!logs.some((l) => /its last writes are lost/.test(l)), logs.join("\n"));
  } finally {
    await cluster.stop();
  }
});
