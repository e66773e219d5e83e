/**
 * The memory component as a whole: isolation between processes, fork, vRegions spread
 * over owners, the page service details (zero pages, piggybacking), memory pressure
 * (swap, ENOMEM, a failing swap device), heartbeats, stats, queries and bad input.
 */

import assert from "node:assert/strict";
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE } from "../../../kernel/abi.ts";
import { PAGE_SIZE } from "../../../kernel/messages.ts";
import { bootMemoryCluster } from "./memory_harness.ts";

const P = PAGE_SIZE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const FIXED = ANON | MAP_FIXED;
const fill = (byte: number, n = P) => new Uint8Array(n).fill(byte);

Deno.test("two processes never see each other's memory, at the same addresses, on one or two homes", async () => {
  const mc = await bootMemoryCluster({ memories: 2, vregionBytes: 64 * 1024 });
  try {
    const base = 0x400000000;
    const a = mc.process(1, "m0");
    const b = mc.process(2, "m0");
    const c = mc.process(3, "m1");
    for (const p of [a, b, c]) {
      await p.fork();
      assert.equal(await p.mmap(base, 40 * P, 3, FIXED), base);
    }
    await a.store(base + 100, fill(0xaa, 3 * P));
    await b.store(base + 100, fill(0xbb, 3 * P));
    assert.deepEqual(await a.load(base + 100, 3 * P), fill(0xaa, 3 * P));
    assert.deepEqual(await b.load(base + 100, 3 * P), fill(0xbb, 3 * P));
    assert.deepEqual(await c.load(base + 100, 3 * P), fill(0, 3 * P), "c never wrote: zeros");
    // A process cannot reach memory only another one mapped.
    await a.mmap(base + 64 * P, P, 3, FIXED);
    await a.store(base + 64 * P, fill(1, 8));
    await assert.rejects(b.load(base + 64 * P, 1), /segmentation fault/);
    await assert.rejects(b.store(base + 64 * P, fill(2, 8)), /segmentation fault/);
    // One exiting leaves the others intact.
    assert.ok((await a.exit()) > 0);
    assert.deepEqual(await b.load(base + 100, 3 * P), fill(0xbb, 3 * P));
    await assert.rejects(a.load(base + 100, 1), /segmentation fault/, "a is gone");
    await b.exit();
    await c.exit();
    for (const id of ["m0", "m1"]) assert.equal(mc.memory(id).stats().framesUsed, 0);
  } finally {
    await mc.stop();
  }
});

Deno.test("fork copies the parent's memory across owners; parent and child then diverge", async () => {
  const mc = await bootMemoryCluster({ memories: 3, vregionBytes: 64 * 1024 });
  try {
    const parent = mc.process(10, "m1");
    await parent.fork();
    const base = 0x500000000;
    await parent.mmap(base, 48 * P, 3, FIXED); // three vRegions, three owners
    await parent.store(base + 5, fill(7, 40 * P));
    const heap = await parent.brk(0);
    await parent.brk(heap + 2 * P);
    await parent.store(heap, fill(9, 8));
    const child = mc.process(11, "m1");
    await child.fork(10);
    assert.deepEqual(await child.load(base + 5, 40 * P), fill(7, 40 * P));
    assert.deepEqual(await child.load(heap, 8), fill(9, 8));
    assert.equal(await child.brk(0), heap + 2 * P);
    await child.store(base + 5, fill(1, 10));
    await parent.store(base + 20 * P, fill(2, 10));
    assert.deepEqual(await parent.load(base + 5, 10), fill(7, 10));
    assert.deepEqual(await child.load(base + 20 * P, 10), fill(7, 10));
    await assert.rejects(mc.process(12, "m1").fork(99), { code: "ESRCH" });
    await assert.rejects(mc.process(11, "m1").fork(), { code: "EEXIST" });
    await assert.rejects(mc.process(0, "m1").fork(), { code: "EINVAL" });
    await parent.exit();
    await child.exit();
    for (const id of ["m0", "m1", "m2"]) assert.equal(mc.memory(id).stats().framesUsed, 0);
  } finally {
    await mc.stop();
  }
});

Deno.test("a mapping spread over vRegions is owned by several components, as the manager placed it", async () => {
  const mc = await bootMemoryCluster({ memories: 3, vregionBytes: 64 * 1024 });
  try {
    const p = mc.process(5, "m0");
    await p.fork();
    const base = 0x600000000;
    await p.mmap(base, 48 * P, 3, FIXED);
    for (let i = 0; i < 48; i += 16) await p.store(base + i * P, fill(i + 1, 16));
    const home = mc.memory("m0").stats().vregions as {
      pid: number;
      vregion: number;
      owner: string;
    }[];
    assert.equal(home.length, 3);
    assert.deepEqual(new Set(home.map((v) => v.owner)), new Set(["m0", "m1", "m2"]));
    const placed = mc.cluster.manager.snapshot().vregions.filter((v) => v.pid === 5);
    assert.deepEqual(
      placed.map((v) => [v.vregion, v.owner]),
      home.map((v) => [v.vregion, v.owner]),
      "the home's owners are the manager's",
    );
    for (const { vregion, owner } of home) {
      assert.equal(await p.owner(vregion * 64 * 1024), owner);
      const owned = mc.memory(owner).stats().ownedVregions as {
        pid: number;
        vregion: number;
        home: string;
        pages: number;
      }[];
      assert.deepEqual(owned.filter((v) => v.pid === 5), [{
        pid: 5,
        vregion,
        home: "m0",
        pages: 1,
      }]);
    }
    const view = mc.memory("m0").query("address-space", { pid: 5 }) as {
      vmas: { perms: string }[];
    };
    assert.deepEqual(view.vmas.map((v) => v.perms), ["rw-p"]);
    await p.exit();
  } finally {
    await mc.stop();
  }
});

Deno.test("never-written pages read as zeros without taking a frame; flush+fetch is one request", async () => {
  const mc = await bootMemoryCluster();
  try {
    const p = mc.process(1, "m0");
    await p.fork();
    const addr = await p.mmap(0, 4 * P, 3, ANON);
    assert.deepEqual(await p.fetch(addr), new Uint8Array(P));
    let stats = mc.memory("m0").stats();
    assert.equal(stats.framesUsed, 0);
    assert.equal(stats.zeroFills, 1);
    const { page } = await mc.client.call("m0", "P2M_PAGE_FLUSH_FETCH", {
      pid: 1,
      flushVaddr: addr,
      page: fill(5),
      fetchVaddr: addr + P,
    });
    assert.deepEqual(page, new Uint8Array(P));
    assert.deepEqual(await p.fetch(addr), fill(5));
    stats = mc.memory("m0").stats();
    assert.equal(stats.piggybacked, 1);
    assert.equal(stats.framesUsed, 1);
    assert.deepEqual(stats.pagesPerProcess, { "1": 1 });
    assert.equal(stats.bytesIn, P);
    await p.exit();
  } finally {
    await mc.stop();
  }
});

Deno.test("a full DRAM pool spills cold pages to swap on storage and loses none of them", async () => {
  const mc = await bootMemoryCluster({ memoryOptions: { dramBytes: 8 * P, evictBatch: 4 } });
  try {
    const p = mc.process(1, "m0");
    await p.fork();
    const addr = await p.mmap(0, 64 * P, 3, ANON);
    for (let i = 0; i < 64; i++) await p.store(addr + i * P, fill(i + 1));
    for (let i = 63; i >= 0; i--) {
      assert.deepEqual(await p.fetch(addr + i * P), fill(i + 1), `page ${i}`);
    }
    const stats = mc.memory("m0").stats() as Record<string, number>;
    assert.ok(
      stats.swapOuts >= 56 && stats.swapIns > 0,
      `${stats.swapOuts} out, ${stats.swapIns} in`,
    );
    assert.equal(stats.framesUsed + stats.swappedPages, 64);
    // Unmapping frees swap slots too.
    await p.munmap(addr, 64 * P);
    const after = mc.memory("m0").stats() as Record<string, number>;
    assert.deepEqual([after.framesUsed, after.swappedPages], [0, 0]);
    await p.exit();
  } finally {
    await mc.stop();
  }
});

Deno.test('onFull "enomem" answers ENOMEM clearly when the pool is full', async () => {
  const mc = await bootMemoryCluster({ memoryOptions: { dramBytes: 2 * P, onFull: "enomem" } });
  try {
    const p = mc.process(1, "m0");
    await p.fork();
    const addr = await p.mmap(0, 4 * P, 3, ANON);
    await p.store(addr, fill(1));
    await p.store(addr + P, fill(2));
    await assert.rejects(p.store(addr + 2 * P, fill(3)), (e: Error & { code?: string }) => {
      assert.equal(e.code, "ENOMEM");
      assert.match(e.message, /DRAM pool of 2 frames is full.*onFull: "enomem"/);
      return true;
    });
    assert.deepEqual(
      await p.fetch(addr + 2 * P),
      new Uint8Array(P),
      "reads of new pages still work",
    );
    assert.deepEqual(await p.fetch(addr + P), fill(2));
    await p.munmap(addr, P);
    await p.store(addr + 2 * P, fill(3));
    assert.deepEqual(await p.fetch(addr + 2 * P), fill(3), "freed frames are reused");
    await p.exit();
  } finally {
    await mc.stop();
  }
});

Deno.test("a swap device that cannot be reached fails the request with EIO and keeps every page", async () => {
  const mc = await bootMemoryCluster({
    memoryOptions: { dramBytes: 3 * P, swapStorage: "s9", evictBatch: 2 },
  });
  try {
    const p = mc.process(1, "m0");
    await p.fork();
    const addr = await p.mmap(0, 4 * P, 3, ANON);
    for (let i = 0; i < 3; i++) await p.store(addr + i * P, fill(i + 1));
    await assert.rejects(p.store(addr + 3 * P, fill(4)), (e: Error & { code?: string }) => {
      assert.equal(e.code, "EIO");
      assert.match(e.message, /cannot swap out to "@swap\/m0.bin"/);
      return true;
    });
    for (let i = 0; i < 3; i++) assert.deepEqual(await p.fetch(addr + i * P), fill(i + 1));
    assert.equal(mc.memory("m0").stats().swappedPages, 0);
    await p.exit();
  } finally {
    await mc.stop();
  }
});

Deno.test("heartbeats carry framesUsed, framesFree and requests to the manager", async () => {
  const mc = await bootMemoryCluster({ heartbeatMs: 20, memoryOptions: { dramBytes: 16 * P } });
  try {
    const p = mc.process(1, "m0");
    await p.fork();
    const addr = await p.mmap(0, P, 3, ANON);
    await p.store(addr, fill(1));
    let load: Record<string, unknown> = {};
    for (let i = 0; i < 100 && load.framesUsed !== 1; i++) {
      await new Promise((r) => setTimeout(r, 10));
      load = mc.cluster.manager.snapshot().components.find((c) => c.id === "m0")!.load;
    }
    assert.equal(load.framesUsed, 1);
    assert.equal(load.framesFree, 15);
    assert.ok((load.requests as number) >= 3, `requests ${load.requests}`); // fork, mmap, flush
    await p.exit();
  } finally {
    await mc.stop();
  }
});

Deno.test("bad requests get clear errors and the component keeps serving", async () => {
  const mc = await bootMemoryCluster();
  const call = mc.client.call.bind(mc.client);
  try {
    const p = mc.process(1, "m0");
    await p.fork();
    const addr = await p.mmap(0, P, 3, ANON);
    await assert.rejects(
      call("m0", "P2M_PAGE_FETCH", { pid: 1, vaddr: addr + 1 }),
      /EINVAL|not page-aligned/,
    );
    await assert.rejects(
      call("m0", "P2M_PAGE_FETCH", { pid: 77, vaddr: addr }),
      /segmentation fault/,
    );
    await assert.rejects(
      call("m0", "P2M_MMAP", {
        pid: 77,
        addr: 0,
        length: P,
        prot: 3,
        flags: ANON,
        path: "",
        offset: 0,
      }),
      { code: "ESRCH" },
    );
    await assert.rejects(
      call("m0", "M2M_VMA_SET", {
        pid: 1,
        home: "m0",
        start: 0,
        end: P,
        discard: true,
        vmas: "nonsense",
      }),
      { code: "EINVAL" },
    );
    await assert.rejects(
      call("m0", "M2M_VMA_SET", {
        pid: 1,
        home: "m0",
        start: 0,
        end: P,
        discard: true,
        vmas: [{ start: 0, end: 2 * P, prot: 3, shared: false, path: "", offset: 0 }],
      }),
      /outside the range/,
    );
    await assert.rejects(
      call("m0", "M2M_PAGES_WRITE", { pid: 1, addrs: [addr], data: new Uint8Array(10) }),
      { code: "EINVAL" },
    );
    await assert.rejects(call("m0", "M2M_PAGES_READ", { pid: 1, start: 1, end: P, maxPages: 1 }), {
      code: "EINVAL",
    });
    await assert.rejects(
      call("m0", "P2M_READ", { pid: 1, path: "x", offset: 0, length: 64 << 20 }),
      /over the 4194304-byte limit/,
    );
    await assert.rejects(call("m0", "P2M_EXIT", { pid: 77 }), { code: "ESRCH" });
    await assert.rejects(call("m0", "MGR_QUERY", { what: "nope", args: {} }), { code: "ENOENT" });
    await assert.rejects(call("m0", "MGR_QUERY", { what: "address-space", args: { pid: 77 } }), {
      code: "ESRCH",
    });
    // Still serving.
    await p.store(addr, fill(3, 10));
    assert.deepEqual(await p.load(addr, 10), fill(3, 10));
    const stats = mc.memory("m0").stats();
    assert.ok((stats.segfaults as number) >= 1);
    await p.exit();
  } finally {
    await mc.stop();
  }
});
