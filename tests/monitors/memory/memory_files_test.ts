/**
 * Files through the memory component: the buffer cache behind P2M_READ / P2M_WRITE
 * (write-back on fsync, close, exit and eviction; close-to-open revalidation) and
 * file-backed mappings read through storage. The storage root is a temporary directory
 * the test inspects directly.
 */

import assert from "node:assert/strict";
import { MAP_PRIVATE } from "../../../kernel/abi.ts";
import { PAGE_SIZE } from "../../../kernel/messages.ts";
import { bootMemoryCluster, type MemoryCluster } from "./memory_harness.ts";

const P = PAGE_SIZE;
const encoder = new TextEncoder();

function pattern(seed: number, length: number): Uint8Array {
  let x = seed || 1;
  return Uint8Array.from({ length }, () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24);
}

async function withFiles(
  memoryOptions: Record<string, unknown>,
  body: (mc: MemoryCluster, root: string) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "legoemu-memory-files-" });
  const mc = await bootMemoryCluster({ storageRoot: root, memoryOptions });
  try {
    await body(mc, root);
  } finally {
    await mc.stop();
    await Deno.remove(root, { recursive: true });
  }
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

Deno.test("P2M_WRITE stays in the buffer cache until fsync, which makes it durable", async () => {
  await withFiles({}, async (mc, root) => {
    const data = encoder.encode("hello, disaggregated world\n".repeat(300)); // 2 pages
    const { written } = await mc.client.call("m0", "P2M_WRITE", {
      pid: 1,
      path: "notes.txt",
      offset: 0,
      data,
    });
    assert.equal(written, data.length);
    assert.equal(await exists(`${root}/notes.txt`), false, "write-back, not write-through");
    const { data: back } = await mc.client.call("m0", "P2M_READ", {
      pid: 1,
      path: "notes.txt",
      offset: 0,
      length: 1 << 20,
    });
    assert.deepEqual(back, data, "reads see cached writes, and stop at the end of the file");
    await mc.client.call("m0", "P2M_FSYNC", { pid: 1, path: "notes.txt" });
    assert.deepEqual(await Deno.readFile(`${root}/notes.txt`), data);
    const cache = mc.memory("m0").stats().bufferCache as Record<string, number>;
    assert.equal(cache.dirtyPages, 0);
    assert.equal(cache.writebacks, 2);
  });
});

Deno.test("reads are served from the cache after the first miss; missing files are ENOENT", async () => {
  await withFiles({}, async (mc, root) => {
    const content = pattern(3, 3 * P + 100);
    await Deno.writeFile(`${root}/big.bin`, content);
    const read = async (offset: number, length: number) =>
      (await mc.client.call("m0", "P2M_READ", { pid: 2, path: "big.bin", offset, length })).data;
    assert.deepEqual(await read(0, 4 * P), content);
    const first = mc.memory("m0").stats().bufferCache as Record<string, number>;
    assert.equal(first.misses, 4);
    assert.deepEqual(await read(P - 10, 2 * P), content.subarray(P - 10, 3 * P - 10));
    const second = mc.memory("m0").stats().bufferCache as Record<string, number>;
    assert.equal(second.misses, 4, "no new miss");
    assert.ok(second.hits >= 3);
    assert.equal((await read(3 * P + 100, 10)).length, 0, "at the end of the file");
    await assert.rejects(
      mc.client.call("m0", "P2M_READ", { pid: 2, path: "nope.bin", offset: 0, length: 1 }),
      { code: "ENOENT" },
    );
  });
});

Deno.test("close and exit write back what the process wrote", async () => {
  await withFiles({}, async (mc, root) => {
    const p = mc.process(4, "m0");
    await p.fork();
    await mc.client.call("m0", "P2M_WRITE", {
      pid: 4,
      path: "a.txt",
      offset: 0,
      data: encoder.encode("A"),
    });
    await mc.client.call("m0", "P2M_WRITE", {
      pid: 4,
      path: "b.txt",
      offset: 5,
      data: encoder.encode("B"),
    });
    await mc.client.call("m0", "P2M_CLOSE", { pid: 4, path: "a.txt" });
    assert.equal(await Deno.readTextFile(`${root}/a.txt`), "A");
    assert.equal(await exists(`${root}/b.txt`), false);
    await p.exit();
    assert.deepEqual(await Deno.readFile(`${root}/b.txt`), new Uint8Array([0, 0, 0, 0, 0, 66]));
  });
});

Deno.test("a two-page buffer cache evicts dirty pages to storage and stays exact", async () => {
  await withFiles({ bufferCacheBytes: 2 * P }, async (mc, root) => {
    const reference = new Uint8Array(10 * P + 123);
    let seed = 9;
    for (let i = 0; i < 40; i++) {
      const offset = (seed = (Math.imul(seed, 48271) >>> 0) % 2147483647) %
        (reference.length - 700);
      const chunk = pattern(i + 1, 1 + (seed % 700));
      reference.set(chunk, offset);
      await mc.client.call("m0", "P2M_WRITE", { pid: 1, path: "mix.bin", offset, data: chunk });
    }
    // The last byte of the reference may never have been written: make the size exact.
    await mc.client.call("m0", "P2M_WRITE", {
      pid: 1,
      path: "mix.bin",
      offset: reference.length - 1,
      data: reference.subarray(reference.length - 1),
    });
    const { data } = await mc.client.call("m0", "P2M_READ", {
      pid: 1,
      path: "mix.bin",
      offset: 0,
      length: reference.length + 50,
    });
    assert.deepEqual(data, reference);
    await mc.client.call("m0", "P2M_FSYNC", { pid: 1, path: "mix.bin" });
    assert.deepEqual(await Deno.readFile(`${root}/mix.bin`), reference);
    const cache = mc.memory("m0").stats().bufferCache as Record<string, number>;
    assert.ok(cache.evictions > 0);
    assert.equal(cache.pagesUsed, 2);
  });
});

Deno.test("after a close the cache revalidates: a change made on storage is seen (close-to-open)", async () => {
  await withFiles({}, async (mc, root) => {
    await Deno.writeTextFile(`${root}/shared.txt`, "first version");
    const read = async () =>
      new TextDecoder().decode(
        (await mc.client.call("m0", "P2M_READ", {
          pid: 1,
          path: "shared.txt",
          offset: 0,
          length: 100,
        })).data,
      );
    assert.equal(await read(), "first version");
    await mc.client.call("m0", "P2M_CLOSE", { pid: 1, path: "shared.txt" });
    await new Promise((r) => setTimeout(r, 5)); // a distinct modification time
    await Deno.writeTextFile(`${root}/shared.txt`, "second, longer version");
    assert.equal(await read(), "second, longer version");
    assert.equal((mc.memory("m0").stats().bufferCache as Record<string, number>).invalidations, 1);
  });
});

Deno.test("file-backed mappings read the file through storage; private writes stay private", async () => {
  await withFiles({}, async (mc, root) => {
    const content = pattern(5, 2 * P + 500);
    await Deno.writeFile(`${root}/map.bin`, content);
    const p = mc.process(1, "m0");
    await p.fork();
    const addr = await p.mmap(0, 4 * P, 3, MAP_PRIVATE, "map.bin", 0);
    assert.deepEqual(await p.load(addr, content.length), content);
    assert.deepEqual(
      await p.load(addr + content.length, P - 500),
      new Uint8Array(P - 500),
      "the tail of the last page is zero",
    );
    await assert.rejects(p.fetch(addr + 3 * P), /bus error.*beyond the end of "map.bin"/);
    await p.store(addr + 10, new Uint8Array([1, 2, 3]));
    assert.deepEqual(await p.load(addr + 10, 3), new Uint8Array([1, 2, 3]));
    assert.deepEqual(
      await Deno.readFile(`${root}/map.bin`),
      content,
      "MAP_PRIVATE never writes the file",
    );
    const shifted = await p.mmap(0, P, 1, MAP_PRIVATE, "map.bin", P);
    assert.deepEqual(await p.load(shifted, P), content.subarray(P, 2 * P), "offset is honoured");
    await assert.rejects(p.mmap(0, P, 1, MAP_PRIVATE, "missing.bin", 0), { code: "ENOENT" });
    await assert.rejects(p.mmap(0, P, 1, MAP_PRIVATE, "map.bin", 100), { code: "EINVAL" });
    assert.equal((mc.memory("m0").stats() as Record<string, number>).fileReads, 4);
    await p.exit();
  });
});

Deno.test("a mapping sees what was written through the buffer cache before it", async () => {
  await withFiles({}, async (mc) => {
    const p = mc.process(1, "m0");
    await p.fork();
    await mc.client.call("m0", "P2M_WRITE", {
      pid: 1,
      path: "fresh.bin",
      offset: 0,
      data: encoder.encode("cached"),
    });
    const addr = await p.mmap(0, P, 1, MAP_PRIVATE, "fresh.bin", 0);
    assert.deepEqual(await p.load(addr, 6), encoder.encode("cached"));
    await p.exit();
  });
});

Deno.test("swap lives in a file on the storage component, removed when the component stops", async () => {
  await withFiles({ dramBytes: 2 * P, evictBatch: 1 }, async (mc, root) => {
    const p = mc.process(1, "m0");
    await p.fork();
    const addr = await p.mmap(0, 6 * P, 3, 0x22);
    for (let i = 0; i < 6; i++) await p.store(addr + i * P, new Uint8Array(P).fill(i + 1));
    const info = await Deno.stat(`${root}/@swap/m0.bin`);
    assert.ok(info.size >= 4 * P, `swap file of ${info.size} bytes`);
    for (let i = 0; i < 6; i++) assert.equal((await p.fetch(addr + i * P))[100], i + 1);
    await p.exit();
    await mc.cluster.stopComponent("m0");
    assert.equal(await exists(`${root}/@swap/m0.bin`), false, "stopping removes the swap file");
  });
});
