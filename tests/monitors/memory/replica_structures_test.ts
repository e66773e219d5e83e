/**
 * The secondary's data structures on their own: the append-only page log and its
 * compaction, the replica of a primary's VMAs and pages under every forwarded change, and
 * the backup file written to storage in the background.
 */

import assert from "node:assert/strict";
import { PAGE_SIZE } from "../../../kernel/messages.ts";
import { COMPACT_FLOOR, PageLog } from "../../../monitors/memory/replica_log.ts";
import { parseReplicaOp, ReplicaStore } from "../../../monitors/memory/replica_store.ts";
import { readBackup, ReplicaBackup } from "../../../monitors/memory/replica_backup.ts";
import type { StorageLink } from "../../../monitors/memory/storage_link.ts";

const page = (byte: number) => new Uint8Array(PAGE_SIZE).fill(byte);
const vma = (start: number, end: number, prot = 3) => ({
  start,
  end,
  prot,
  shared: false,
  path: "",
  offset: 0,
});

Deno.test("the page log appends, serves each page's newest record, and stays bounded by compaction", () => {
  const log = new PageLog();
  for (let round = 0; round < 200; round++) {
    for (let vpn = 0; vpn < 10; vpn++) log.append(7, vpn, page((round + vpn) & 0xff));
    const { records, livePages } = log.stats();
    assert.equal(livePages, 10);
    assert.ok(records <= 2 * livePages + COMPACT_FLOOR + 1, `${records} records for 10 pages`);
  }
  assert.ok(log.stats().compactions > 0 && log.epoch === log.stats().compactions);
  for (let vpn = 0; vpn < 10; vpn++) assert.equal(log.get(7, vpn)![0], (199 + vpn) & 0xff);
  log.drop(7, 3);
  assert.equal(log.get(7, 3), undefined);
  log.compact();
  assert.equal(log.stats().records, 9, "compaction keeps only the live pages");
  assert.deepEqual(log.vpnsOf(7), [0, 1, 2, 4, 5, 6, 7, 8, 9]);
  assert.equal(log.dropProcess(7), 9);
  assert.throws(() => log.append(1, 0, new Uint8Array(10)), /4096 bytes/);
});

Deno.test("the replica applies VMA changes, page moves and exits as the primary's owner did", () => {
  const store = new ReplicaStore("m0");
  const base = 0x100000;
  store.apply({
    t: "vmas",
    pid: 1,
    home: "m0",
    start: base,
    end: base + 16 * PAGE_SIZE,
    discard: true,
    vmas: [vma(base, base + 16 * PAGE_SIZE)],
  });
  for (let i = 0; i < 8; i++) store.flush(1, base + i * PAGE_SIZE, page(i + 1));
  // munmap of pages 2..3 (non-discarding set with a gap): only the gap is dropped.
  store.apply({
    t: "vmas",
    pid: 1,
    home: "m0",
    start: base,
    end: base + 16 * PAGE_SIZE,
    discard: false,
    vmas: [vma(base, base + 2 * PAGE_SIZE), vma(base + 4 * PAGE_SIZE, base + 16 * PAGE_SIZE)],
  });
  assert.deepEqual(store.log.vpnsOf(1).map((v) => v - base / PAGE_SIZE), [0, 1, 4, 5, 6, 7]);
  // mremap's move: pages 4..5 to 10..11.
  store.apply({
    t: "copy",
    pid: 1,
    from: base + 4 * PAGE_SIZE,
    toPid: 1,
    to: base + 10 * PAGE_SIZE,
    length: 2 * PAGE_SIZE,
    move: true,
  });
  assert.equal(store.log.get(1, base / PAGE_SIZE + 4), undefined);
  assert.equal(store.log.get(1, base / PAGE_SIZE + 10)![0], 5);
  // fork's copy to another pid, and pages a home writes.
  store.apply({
    t: "copy",
    pid: 1,
    from: base,
    toPid: 2,
    to: base,
    length: 2 * PAGE_SIZE,
    move: false,
  });
  assert.equal(store.log.get(2, base / PAGE_SIZE + 1)![0], 2);
  const data = new Uint8Array(2 * PAGE_SIZE).fill(0x5a);
  store.apply({ t: "write", pid: 2, addrs: [base + 8 * PAGE_SIZE, base + 9 * PAGE_SIZE] }, data);
  assert.equal(store.log.get(2, base / PAGE_SIZE + 9)![0], 0x5a);
  assert.throws(() => store.apply({ t: "write", pid: 2, addrs: [base] }, data), /need 4096 bytes/);
  // The home's view, and exits.
  store.apply({ t: "space", pid: 1, brk: 0x20000000, vmas: [vma(base, base + PAGE_SIZE)] });
  assert.equal(store.homed.get(1)?.brk, 0x20000000);
  store.apply({ t: "unhome", pid: 1 });
  assert.equal(store.homed.size, 0);
  store.apply({ t: "exit", pid: 1 });
  assert.deepEqual(store.log.vpnsOf(1), []);
  assert.equal(store.owned.has(1), false);
  // munmap of everything with discard drops every page.
  store.apply({
    t: "vmas",
    pid: 2,
    home: "m2",
    start: base,
    end: base + 16 * PAGE_SIZE,
    discard: true,
    vmas: [],
  });
  assert.deepEqual(store.log.vpnsOf(2), []);
});

Deno.test("a forwarded op that is not one is refused with a clear error", () => {
  for (
    const [bad, problem] of [
      [{ t: "nope" }, /not a replica op/],
      [{ t: "exit", pid: 0 }, /pid/],
      [{ t: "write", pid: 1, addrs: [4097] }, /not page-aligned/],
      [{ t: "vmas", pid: 1, home: "m0", start: 0, end: 4096, discard: true, vmas: [{}] }, /vmas/],
      ["text", /not a replica op/],
    ] as const
  ) {
    assert.throws(() => parseReplicaOp(bad), (e: Error & { code?: string }) => {
      assert.equal(e.code, "EINVAL");
      assert.match(e.message, problem);
      return true;
    });
  }
});

Deno.test("the backup file on storage holds the log's live pages, rewritten after a compaction", async () => {
  let file = new Uint8Array(0);
  const writes: number[] = [];
  const storage = {
    write: (_path: string, offset: number, data: Uint8Array) => {
      if (file.length < offset + data.length) {
        const grown = new Uint8Array(offset + data.length);
        grown.set(file);
        file = grown;
      }
      file.set(data, offset);
      writes.push(data.length);
      return Promise.resolve();
    },
  } as unknown as StorageLink;
  const log = new PageLog();
  const backup = new ReplicaBackup({
    primary: "m0",
    log,
    storage,
    truncate: (_path, length) => (file = file.slice(0, length), Promise.resolve()),
    intervalMs: 0,
    report: () => {},
  });
  await backup.round();
  assert.equal(writes.length, 0, "nothing logged, nothing written");
  for (let vpn = 0; vpn < 5; vpn++) log.append(3, vpn, page(vpn));
  await backup.round();
  assert.equal(backup.stats().behind, 0);
  log.append(3, 1, page(0xee));
  await backup.round();
  let back = readBackup(file);
  assert.equal(back.pages.size, 5);
  assert.equal(back.pages.get("3:1")![0], 0xee, "the last record of a page wins");
  log.drop(3, 4);
  log.compact();
  await backup.round();
  back = readBackup(file);
  assert.equal(back.bytesRead, file.length);
  assert.deepEqual([...back.pages.keys()].sort(), ["3:0", "3:1", "3:2", "3:3"]);
  assert.equal(back.pages.get("3:1")![0], 0xee);
});
