/**
 * Unit tests of the memory component's data structures: the hashed page table, the VMA
 * list, the frame pool, the serial queue and the address space's own limits.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE } from "../../../kernel/abi.ts";
import {
  AddressSpace,
  FramePool,
  MAX_MAP_COUNT,
  MMAP_BASE,
  NO_PAGE,
  PageTable,
  TASK_SIZE,
  VmaList,
} from "../../../monitors/memory/mod.ts";
import { slotOf, swapValue } from "../../../monitors/memory/page_table.ts";
import { Serial } from "../../../monitors/memory/serial.ts";

const P = 4096;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

Deno.test("PageTable agrees with a Map under random sets, gets and deletes (growth included)", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          op: fc.constantFrom("set", "delete", "get"),
          pid: fc.integer({ min: 1, max: 4 }),
          // Few distinct keys so collisions, overwrites and deletions of present keys happen,
          // and vpns above 2^32 to exercise both halves of the hash.
          vpn: fc.oneof(fc.nat(64), fc.nat(64).map((n) => 2 ** 34 + n)),
          value: fc.integer({ min: -1000, max: 100_000 }),
        }),
        { maxLength: 400 },
      ),
      (ops) => {
        const table = new PageTable(4);
        const reference = new Map<string, number>();
        for (const { op, pid, vpn, value } of ops) {
          const key = `${pid}:${vpn}`;
          if (op === "set") {
            table.set(pid, vpn, value);
            reference.set(key, value);
          } else if (op === "delete") {
            assert.equal(table.delete(pid, vpn), reference.get(key) ?? NO_PAGE);
            reference.delete(key);
          }
          assert.equal(table.get(pid, vpn), reference.get(key) ?? NO_PAGE);
          assert.equal(table.size, reference.size);
        }
        for (const [key, value] of reference) {
          const [pid, vpn] = key.split(":").map(Number);
          assert.equal(table.get(pid, vpn), value);
        }
        const seen = new Map<number, number>();
        table.forEachOf(1, (vpn, value) => seen.set(vpn, value));
        assert.equal(seen.size, [...reference.keys()].filter((k) => k.startsWith("1:")).length);
      },
    ),
    { seed: 7, numRuns: 200 },
  );
});

Deno.test("swapValue() and slotOf() round-trip and never collide with frames", () => {
  for (const slot of [0, 1, 41, 2 ** 30]) {
    assert.ok(swapValue(slot) < 0);
    assert.equal(slotOf(swapValue(slot)), slot);
  }
});

Deno.test("FramePool hands out zeroed frames and refuses when full", () => {
  const pool = new FramePool(2 * P + 100);
  assert.equal(pool.frames, 2);
  const a = pool.allocate();
  pool.page(a).fill(9);
  const b = pool.allocate(false);
  assert.equal(pool.allocate(), -1);
  pool.release(a);
  const again = pool.allocate();
  assert.equal(again, a);
  assert.ok(pool.page(again).every((x) => x === 0), "a reused frame is zero-filled");
  assert.equal(pool.page(b).byteOffset, b * 4096, "a view of exactly that frame");
  assert.throws(() => new FramePool(100), /holds no 4 KiB frame/);
});

Deno.test("VmaList merges compatible neighbours and splits on remove", () => {
  const anon = (start: number, end: number, prot = 3) => ({
    start,
    end,
    prot,
    shared: false,
    path: "",
    offset: 0,
  });
  const list = new VmaList();
  list.insert(anon(0, P));
  list.insert(anon(2 * P, 3 * P));
  list.insert(anon(P, 2 * P));
  assert.deepEqual(list.vmas.map((v) => [v.start, v.end]), [[0, 3 * P]]);
  list.insert(anon(3 * P, 4 * P, 1));
  assert.equal(list.length, 2, "a different protection stays apart");
  assert.deepEqual(list.remove(P, 2 * P).map((v) => [v.start, v.end]), [[P, 2 * P]]);
  assert.deepEqual(list.vmas.map((v) => [v.start, v.end]), [[0, P], [2 * P, 3 * P], [
    3 * P,
    4 * P,
  ]]);
  const file = { start: 0, end: P, prot: 1, shared: false, path: "f", offset: 0 };
  const files = new VmaList();
  files.insert(file);
  files.insert({ ...file, start: P, end: 2 * P, offset: 8 * P });
  assert.equal(files.length, 2, "file pieces merge only at contiguous offsets");
  files.insert({ ...file, start: 2 * P, end: 3 * P, offset: 9 * P });
  assert.equal(files.length, 2);
  assert.equal(files.slice(P + P, 3 * P)[0].offset, 9 * P, "slicing moves the offset along");
});

Deno.test("AddressSpace places mappings top-down below MMAP_BASE and reports ENOMEM when full", () => {
  const space = new AddressSpace();
  const a = space.mmap(0, P, 3, ANON).addr;
  const b = space.mmap(0, P, 3, ANON).addr;
  assert.equal(a, MMAP_BASE - P);
  assert.equal(b, MMAP_BASE - 2 * P);
  assert.throws(() => space.mmap(0, TASK_SIZE, 3, ANON), { code: "ENOMEM" });
  assert.throws(() => space.mmap(0, P, 3, ANON | MAP_FIXED), { code: "EPERM" });
  assert.throws(() => space.mmap(0, P, 3, MAP_PRIVATE), { code: "EBADF" });
  // MAP_PRIVATE | MAP_SHARED is MAP_SHARED_VALIDATE: fine for a file, unknown flags refused.
  assert.equal(space.mmap(0, P, 1, 0x03, "file").addr, MMAP_BASE - 3 * P);
  assert.throws(() => space.mmap(0, P, 1, 0x03 | 0x80000, "file"), { code: "EOPNOTSUPP" });
  assert.throws(() => space.mmap(0, P, 1, 0x03 | MAP_ANONYMOUS), { code: "EINVAL" });
});

Deno.test("AddressSpace maps shared files writable, and makes them writable with mprotect", () => {
  const space = new AddressSpace();
  const rw = space.mmap(0, P, 3, 0x01, "data.bin").addr;
  assert.equal(space.vmas.find(rw)?.prot, 3);
  assert.equal(space.vmas.find(rw)?.shared, true);
  const { addr } = space.mmap(0, P, 1, 0x01, "data.bin");
  space.mprotect(addr, P, 3);
  assert.equal(space.vmas.find(addr)?.prot, 3);
});

Deno.test("AddressSpace stops at vm.max_map_count with ENOMEM", () => {
  const space = new AddressSpace();
  const base = 0x100000000;
  // Alternating protections keep every page a VMA of its own; one 3-page VMA apart.
  for (let i = 0; i < MAX_MAP_COUNT - 1; i++) {
    space.mmap(base + i * P, P, i % 2 ? 1 : 3, ANON | MAP_FIXED);
  }
  const three = base + (MAX_MAP_COUNT + 8) * P;
  space.mmap(three, 3 * P, 0, ANON | MAP_FIXED);
  assert.equal(space.vmas.length, MAX_MAP_COUNT);
  const copy = space.clone();
  assert.throws(() => copy.mmap(0, P, 3, ANON), { code: "ENOMEM" });
  assert.throws(() => copy.mprotect(three + P, P, 3), { code: "ENOMEM" }, "a split would go over");
  assert.throws(() => copy.munmap(three + P, P), { code: "ENOMEM" }, "so would a hole");
  assert.equal(space.setBrk(space.brk + P).addr, space.brk, "brk fails quietly, as Linux does");
});

Deno.test("Serial runs operations one at a time and survives failures", async () => {
  const serial = new Serial();
  const order: string[] = [];
  const slow = serial.run(async () => {
    await new Promise((r) => setTimeout(r, 5));
    order.push("slow");
  });
  const failing = serial.run(() => {
    order.push("fail");
    throw new Error("boom");
  });
  const after = serial.run(() => order.push("after"));
  assert.equal(serial.pending, 3);
  await slow;
  await assert.rejects(failing, /boom/);
  await after;
  assert.deepEqual(order, ["slow", "fail", "after"]);
  assert.equal(serial.pending, 0);
});
