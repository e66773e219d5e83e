/**
 * The PMEM file: records come back after a reopen, a checkpoint switches images, a torn
 * last record is dropped, and a damaged or resized file is refused without a byte of it
 * changing.
 */

import assert from "node:assert/strict";
import {
  PmemDamageError,
  type PmemRecord,
  RecordKind,
  SECTOR,
} from "../../../monitors/memory/pmem_log.ts";
import { pmemLayout, PmemPool } from "../../../monitors/memory/pmem_pool.ts";

const BYTES = 1 << 20;

function write(pid: number, addr: number, fill: number, length: number): PmemRecord {
  return {
    kind: RecordKind.WRITE,
    flags: 0,
    pid,
    addr,
    payload: new Uint8Array(length).fill(fill),
  };
}

async function withFile(body: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-pmem-" });
  try {
    await body(`${dir}/m0.pmem`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("PmemPool: appended records come back, in order, after a reopen", async () => {
  await withFile(async (path) => {
    const first = await PmemPool.open(path, BYTES);
    assert.equal(first.report.created, true);
    await Promise.all([
      first.pool.append([write(1, 0x1000, 7, 16)]),
      first.pool.append([write(1, 0x2000, 8, 4096), write(2, 0x3000, 9, 100)]),
    ]);
    assert.ok(first.pool.stats().syncs >= 1);
    first.pool.close();
    const again = await PmemPool.open(path, BYTES);
    assert.equal(again.report.created, false);
    assert.deepEqual(again.records.map((r) => [r.pid, r.addr, r.payload.length, r.payload[0]]), [
      [1, 0x1000, 16, 7],
      [1, 0x2000, 4096, 8],
      [2, 0x3000, 100, 9],
    ]);
    // Appends continue after the replayed ones.
    await again.pool.append([write(3, 0x4000, 1, 1)]);
    again.pool.close();
    const third = await PmemPool.open(path, BYTES);
    assert.equal(third.records.length, 4);
    third.pool.close();
  });
});

Deno.test("PmemPool: a checkpoint replaces the log with an image", async () => {
  await withFile(async (path) => {
    const { pool } = await PmemPool.open(path, BYTES);
    await pool.append([write(1, 0x1000, 1, 64)]);
    await pool.checkpoint([write(1, 0x1000, 2, 4096), write(1, 0x2000, 3, 4096)]);
    assert.equal(pool.stats().logUsed, 0);
    await pool.append([write(1, 0x3000, 4, 10)]);
    pool.close();
    const again = await PmemPool.open(path, BYTES);
    assert.equal(again.report.imageRecords, 2);
    assert.equal(again.report.logRecords, 1);
    assert.deepEqual(again.records.map((r) => r.payload[0]), [2, 3, 4]);
    again.pool.close();
  });
});

Deno.test("PmemPool: a torn last record (zeros after the tear) is dropped, and appends go on", async () => {
  await withFile(async (path) => {
    const { pool } = await PmemPool.open(path, BYTES);
    await pool.append([write(1, 0x1000, 5, 100)]);
    await pool.append([write(1, 0x2000, 6, 4096)]);
    pool.close();
    // Zero the last record's payload from its third sector on: a write stopped mid-way.
    const layout = pmemLayout(BYTES);
    const second = layout.logOffset + 2 * SECTOR; // first record: header + 1 payload sector
    const file = await Deno.open(path, { write: true });
    await file.seek(second + 3 * SECTOR, Deno.SeekMode.Start);
    await file.write(new Uint8Array(4096 - 2 * SECTOR));
    file.close();
    const again = await PmemPool.open(path, BYTES);
    assert.equal(again.report.tornAt, second);
    assert.deepEqual(again.records.map((r) => r.addr), [0x1000]);
    await again.pool.append([write(1, 0x3000, 7, 8)]);
    again.pool.close();
    const third = await PmemPool.open(path, BYTES);
    assert.deepEqual(third.records.map((r) => r.addr), [0x1000, 0x3000]);
    third.pool.close();
  });
});

async function damaged(path: string, change: (file: Deno.FsFile) => Promise<void>, expect: RegExp) {
  const file = await Deno.open(path, { read: true, write: true });
  await change(file);
  file.close();
  const before = await Deno.readFile(path);
  await assert.rejects(PmemPool.open(path, BYTES), (e) => {
    assert.ok(e instanceof PmemDamageError, String(e));
    assert.match(e.message, new RegExp(path.replace(/[.]/g, "\\.")));
    assert.match(e.message, expect);
    return true;
  });
  assert.deepEqual(await Deno.readFile(path), before, "nothing written to a refused file");
}

async function flip(file: Deno.FsFile, at: number): Promise<void> {
  const byte = new Uint8Array(1);
  await file.seek(at, Deno.SeekMode.Start);
  await file.read(byte);
  byte[0] ^= 0x10;
  await file.seek(at, Deno.SeekMode.Start);
  await file.write(byte);
}

Deno.test("PmemPool refuses a damaged file, naming the file and the damage, writing nothing", async () => {
  const layout = pmemLayout(BYTES);
  const cases: [string, (file: Deno.FsFile) => Promise<void>, RegExp][] = [
    ["superblock", (f) => flip(f, 20), /superblock copy 0 \(offset 0\): checksum mismatch/],
    ["second superblock", (f) => flip(f, 4096 + 30), /superblock copy 1 .*checksum mismatch/],
    [
      "log header",
      (f) => flip(f, layout.logOffset + 20),
      /record header at offset 0x[0-9a-f]+: checksum/,
    ],
    [
      "log payload",
      (f) => flip(f, layout.logOffset + SECTOR + 3),
      /record 0 at offset 0x[0-9a-f]+: payload checksum mismatch/,
    ],
    [
      "last record's payload",
      (f) => flip(f, layout.logOffset + 2 * SECTOR + SECTOR + 100),
      /record 1 at offset .*payload checksum mismatch/,
    ],
    [
      "zeros after the log",
      (f) => flip(f, layout.logOffset + 100 * SECTOR),
      /unexpected bytes after the end of the log/,
    ],
    [
      "truncated",
      (f) => f.truncate(BYTES - 4096),
      /truncated: it has 1044480 bytes, its superblock says 1048576/,
    ],
    ["truncated to nothing", (f) => f.truncate(100), /truncated to 100 bytes/],
  ];
  for (const [name, change, expect] of cases) {
    await withFile(async (path) => {
      const { pool } = await PmemPool.open(path, BYTES);
      await pool.append([write(1, 0x1000, 1, 200)]);
      await pool.append([write(1, 0x2000, 2, 4096)]);
      pool.close();
      await damaged(path, change, expect).catch((e) => {
        throw new Error(`${name}: ${e.message}`);
      });
    });
  }
});

Deno.test("PmemPool refuses a damaged image and a size that differs from the file's", async () => {
  const layout = pmemLayout(BYTES);
  await withFile(async (path) => {
    const { pool } = await PmemPool.open(path, BYTES);
    await pool.checkpoint([write(1, 0x1000, 2, 4096)]);
    pool.close();
    // The checkpoint went to image B.
    await damaged(
      path,
      (f) => flip(f, 8192 + layout.imageBytes + SECTOR + 7),
      /payload checksum mismatch/,
    );
  });
  await withFile(async (path) => {
    (await PmemPool.open(path, BYTES)).pool.close();
    await assert.rejects(
      PmemPool.open(path, 2 * BYTES),
      /holds 1048576 bytes but options.pmem.bytes is 2097152/,
    );
  });
});
