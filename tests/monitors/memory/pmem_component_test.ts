/**
 * A PMEM memory component in a cluster (in-memory transport): the four persistent-write
 * paths land their bytes (and are charged the model time computed here by hand from the
 * latency model's constants), and pages and VMAs come back from the file after a restart.
 */

import assert from "node:assert/strict";
import type { LatencyModel } from "../../../kernel/latency.ts";
import { PAGE_SIZE } from "../../../kernel/messages.ts";
import { PluginRegistry } from "../../../kernel/plugins.ts";
import { crc32 } from "../../../kernel/crc32.ts";
import { RpcNode } from "../../../kernel/rpc.ts";
import { startCluster } from "../../../mod.ts";
import { persistCost, type PersistPath, PmemClient } from "../../../monitors/memory/pmem_paths.ts";
import { legoosIbLatencyPlugin } from "../../../plugins/latency/legoos_ib.ts";
import { bootMemoryCluster, type MemoryCluster } from "./memory_harness.ts";

const BASE = 0x10000000;

async function model(options: Record<string, unknown> = {}): Promise<LatencyModel> {
  const registry = new PluginRegistry().register(legoosIbLatencyPlugin);
  return await registry.create<LatencyModel>("latency-model", "legoos-ib", options, {});
}

/** Sets one private read-write VMA of `pages` pages at `BASE` for `pid` on `m0` (home `m0`). */
async function mapPages(mc: MemoryCluster, pid: number, pages: number): Promise<void> {
  const end = BASE + pages * PAGE_SIZE;
  await mc.client.call("m0", "M2M_VMA_SET", {
    pid,
    home: "m0",
    start: BASE,
    end,
    discard: true,
    vmas: [{ start: BASE, end, prot: 3, shared: false, path: "", offset: 0 }],
  });
}

function close(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) < 1e-6, `${what}: ${actual} != ${expected}`);
}

Deno.test("persistCost: each path's model time, computed by hand from legoos-ib's constants", async () => {
  const m = await model({ ddio: false });
  // Constants (FACTS.md): RPC flat 4630 ns below 128 B (A2); WRITE 4 B 1170, 1 KB 2780 ns;
  // READ 4 B 2250, 1 KB 3480 ns (R1); PMEM ntstore+fence 90 ns, clwb+fence 62 ns, write
  // 12.5 GB/s (N1); connectionless RPC 2300 ns (R2); link 40 Gbit/s (A1).
  const n = 64;
  const pmemWrite = 90 + n / 12.5;
  const pmemFlush = 62 + n / 12.5;
  const write64 = 1170 + (2780 - 1170) * (n - 4) / (1024 - 4);
  const read8 = 2250 + (3480 - 2250) * (8 - 4) / (1024 - 4);
  close(persistCost(m, 1, n).ns, 4630 + pmemWrite, "path 1");
  close(persistCost(m, 2, n).ns, write64 + read8, "path 2");
  close(persistCost(m, 3, n).ns, write64 + 4630 + pmemFlush, "path 3");
  close(persistCost(m, 4, n).ns, 2300 + n * 8 / 40 + pmemWrite, "path 4");
  assert.equal(persistCost(m, 2, n).valid, true, "DDIO off: the READ flushes");
  const on = await model();
  assert.equal(persistCost(on, 2, n).valid, false, "DDIO on (the default): it does not");
  // 4 KiB: on the measured points.
  close(persistCost(m, 1, 4096).ns, 6520 + 90 + 4096 / 12.5, "path 1, 4 KiB");
  close(persistCost(m, 2, 4096).ns, 5520 + read8, "path 2, 4 KiB");
});

Deno.test("PMEM component: four paths land their bytes; pages and VMAs survive a restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-pmem-component-" });
  const pmem = { path: `${dir}/m0.pmem`, bytes: 8 << 20 };
  try {
    let mc = await bootMemoryCluster({ memoryOptions: { pmem } });
    const pid = 5;
    await mapPages(mc, pid, 16);
    const endpoint = await mc.cluster.transport.attach("p9");
    const rpc = new RpcNode(endpoint);
    const client = await PmemClient.connect({
      rpc,
      endpoint,
      target: "m0",
      model: await model({ ddio: false }),
    });
    const expected = new Map<number, Uint8Array>();
    for (const path of [1, 3, 4] as PersistPath[]) {
      const vaddr = BASE + path * PAGE_SIZE + 100;
      const data = new Uint8Array(300).fill(path * 11);
      const result = await client.write(path, { pid, vaddr, data, windowOffset: 4096 * path });
      close(
        result.modelNs,
        persistCost(await model({ ddio: false }), path, 300).ns,
        `path ${path}`,
      );
      assert.ok(result.wallNs > 0);
      expected.set(vaddr, data);
    }
    // Path 2 lands in the window (durable in the model only on these transports).
    await client.write(2, { pid, vaddr: BASE, data: new Uint8Array([9, 9]), windowOffset: 0 });
    await assert.rejects(
      (await PmemClient.connect({
        rpc,
        endpoint,
        target: "m0",
        model: await model(),
      })).write(2, { pid, vaddr: BASE, data: new Uint8Array(8), windowOffset: 0 }),
      /DDIO on/,
    );
    // A whole page flushed through the page service, too.
    await mc.client.call("m0", "P2M_PAGE_FLUSH", {
      pid,
      vaddr: BASE + 8 * PAGE_SIZE,
      page: new Uint8Array(PAGE_SIZE).fill(0x77),
    });
    const check = async (what: string) => {
      for (const [vaddr, data] of expected) {
        const pageAddr = vaddr - (vaddr % PAGE_SIZE);
        const { page } = await mc.client.call("m0", "P2M_PAGE_FETCH", { pid, vaddr: pageAddr });
        assert.deepEqual(
          page.subarray(vaddr - pageAddr, vaddr - pageAddr + data.length),
          data,
          what,
        );
        assert.equal(page[0], 0, `${what}: the rest of the page stays zero`);
      }
      const { page } = await mc.client.call("m0", "P2M_PAGE_FETCH", {
        pid,
        vaddr: BASE + 8 * PAGE_SIZE,
      });
      assert.equal(page[4095], 0x77, what);
    };
    await check("before the restart");
    const stats = mc.memory("m0").stats().pmem as { stats: { syncs: number } };
    assert.ok(stats.stats.syncs >= 4, "each acknowledged write was synced");
    await rpc.close();
    await mc.stop(); // a clean stop writes a checkpoint
    mc = await bootMemoryCluster({ memoryOptions: { pmem } });
    try {
      await check("after a clean restart (from the image)");
      const owned = await mc.client.call("m0", "MGR_QUERY", { what: "owned", args: { pid } });
      assert.equal((owned.result as { vmas: unknown[] }).vmas.length, 1, "VMAs recovered");
      // Writes after the restart land in the log; the next start replays image + log.
      await mc.client.call("m0", "P2M_PMEM_WRITE", {
        pid,
        vaddr: BASE + 9 * PAGE_SIZE,
        path: 1,
        data: new Uint8Array([1, 2, 3]),
      });
      const info = await mc.client.call("m0", "MGR_QUERY", { what: "pmem", args: {} });
      assert.ok(
        (info.result as { recovered: { imageRecords: number } }).recovered.imageRecords > 0,
      );
      // A write outside the VMAs is refused and not logged.
      await assert.rejects(
        mc.client.call("m0", "P2M_PMEM_WRITE", {
          pid,
          vaddr: 0x1000,
          path: 1,
          data: new Uint8Array(1),
        }),
        /segmentation fault/,
      );
    } finally {
      await mc.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a PMEM component refuses to start on a damaged file, naming it, and leaves it as it was", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-pmem-component-" });
  const pmem = { path: `${dir}/m0.pmem`, bytes: 1 << 20 };
  try {
    const mc = await bootMemoryCluster({ memoryOptions: { pmem } });
    await mapPages(mc, 2, 1);
    await mc.client.call("m0", "P2M_PMEM_WRITE", {
      pid: 2,
      vaddr: BASE,
      path: 1,
      data: new Uint8Array(100).fill(5),
    });
    await mc.stop();
    // Flip one byte of the checkpoint image the clean stop wrote (image B, 8192 + image size).
    const bytes = await Deno.readFile(pmem.path);
    const imageB = 8192 + (bytes.length - 8192 - (256 << 10)) / 2;
    bytes[imageB + 512 + 10] ^= 1;
    await Deno.writeFile(pmem.path, bytes);
    await assert.rejects(bootMemoryCluster({ memoryOptions: { pmem } }), (e) => {
      assert.match(String(e), new RegExp(`PMEM file "${pmem.path}" is damaged, refusing to start`));
      assert.match(String(e), /payload checksum mismatch/);
      return true;
    });
    assert.deepEqual(await Deno.readFile(pmem.path), bytes, "the file is left as it was");
    // A size that differs from the file's is refused too.
    await assert.rejects(
      bootMemoryCluster({ memoryOptions: { pmem: { ...pmem, bytes: 2 << 20 } } }),
      /holds 1048576 bytes but options.pmem.bytes is 2097152/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a workload's msync on a PMEM memory component writes its pages durably (path 1)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-pmem-component-" });
  const cluster = await startCluster({
    name: "pmem-msync",
    components: [
      { id: "gm", role: "manager" },
      { id: "p0", role: "processor", options: { cacheBytes: 64 * 4096 } },
      { id: "m0", role: "memory", options: { pmem: { path: `${dir}/m0.pmem`, bytes: 4 << 20 } } },
      { id: "s0", role: "storage" },
    ],
  }, { log: () => {} });
  try {
    const workload = new URL("../../workloads/pmem_msync.ts", import.meta.url).href;
    const result = await cluster.run(workload, ["6"]);
    assert.equal(result.exitCode, 0, result.error);
    const pmem = (cluster.stats().m0 as { pmem: { stats: { records: number; syncs: number } } })
      .pmem.stats;
    assert.ok(pmem.records >= 6, `6 pages logged durably, got ${pmem.records} records`);
    assert.ok(pmem.syncs >= 1);
  } finally {
    await cluster.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a PMEM component's stats stay readable after it stopped", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-pmem-component-" });
  try {
    const mc = await bootMemoryCluster({
      memoryOptions: { pmem: { path: `${dir}/m0.pmem`, bytes: 1 << 20 } },
    });
    const memory = mc.memory("m0");
    assert.equal((memory.stats().pmem as { open: boolean }).open, true);
    await mc.stop();
    const after = memory.stats().pmem as { open: boolean; stats: { checkpoints: number } };
    assert.equal(after.open, false);
    assert.equal(after.stats.checkpoints, 1, "the clean stop wrote a checkpoint");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("PMEM path 3: a commit whose window slot another writer reused is refused, and the client writes again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-pmem-slot-" });
  // A one-page window: every path-3 write of every client takes the same slot.
  const pmem = { path: `${dir}/m0.pmem`, bytes: 8 << 20, windowBytes: PAGE_SIZE };
  const mc = await bootMemoryCluster({ memoryOptions: { pmem } });
  try {
    const pid = 6;
    await mapPages(mc, pid, 16);
    const m = await model({ ddio: false });
    const clients = await Promise.all(["p7", "p8"].map(async (id) => {
      const endpoint = await mc.cluster.transport.attach(id);
      const rpc = new RpcNode(endpoint);
      return {
        endpoint,
        rpc,
        client: await PmemClient.connect({ rpc, endpoint, target: "m0", model: m }),
      };
    }));
    // By hand: p7 writes the slot, p8 overwrites it, p7's commit names p7's bytes.
    const mine = new Uint8Array(64).fill(0xa7);
    const { windowKey } = (await mc.client.call("m0", "MGR_QUERY", { what: "pmem", args: {} }))
      .result as { windowKey: number };
    await clients[0].endpoint.write("m0", windowKey, 0, mine);
    await clients[1].endpoint.write("m0", windowKey, 0, new Uint8Array(64).fill(0xb8));
    await assert.rejects(
      clients[0].rpc.call("m0", "P2M_PMEM_COMMIT", {
        pid,
        vaddr: BASE,
        offset: 0,
        length: 64,
        crc: crc32(mine),
      }),
      (e: Error) => (e as { code?: string }).code === "EAGAIN" && /reused the slot/.test(e.message),
    );
    const before = await mc.client.call("m0", "P2M_PAGE_FETCH", { pid, vaddr: BASE });
    assert.equal(before.page[0], 0, "a refused commit writes nothing");
    // Both clients at once, each one write after another, through the one slot: every
    // page ends with its own bytes.
    const writes = Array.from({ length: 24 }, (_, k) => ({
      who: k % 2,
      vaddr: BASE + (1 + (k % 12)) * PAGE_SIZE + (k < 12 ? 0 : 512),
      data: new Uint8Array(256).fill(k + 1),
    }));
    const results: { modelNs: number }[] = [];
    await Promise.all([0, 1].map(async (who) => {
      for (const w of writes.filter((w) => w.who === who)) {
        const { client } = clients[who];
        results.push(await client.write(3, { ...w, pid, windowOffset: client.nextSlot() }));
      }
    }));
    const once = persistCost(m, 3, 256).ns;
    for (const r of results) {
      const attempts = r.modelNs / once;
      assert.ok(
        Number.isInteger(Math.round(attempts)) && Math.abs(attempts - Math.round(attempts)) < 1e-9,
      );
      assert.ok(attempts >= 1, "each attempt is charged");
    }
    for (const w of writes) {
      const pageAddr = w.vaddr - (w.vaddr % PAGE_SIZE);
      const { page } = await mc.client.call("m0", "P2M_PAGE_FETCH", { pid, vaddr: pageAddr });
      const at = w.vaddr - pageAddr;
      assert.deepEqual(page.subarray(at, at + 256), w.data, `write of ${w.data[0]} at ${w.vaddr}`);
    }
    for (const c of clients) await c.rpc.close();
  } finally {
    await mc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
