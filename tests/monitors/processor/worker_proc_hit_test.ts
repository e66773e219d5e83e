/**
 * The thread side of the ExCache on its own: a WorkerProc over a cache whose lines are
 * already resident, with no monitor. Every access here is a hit (a fast hit through the
 * TLB or a soft miss that finds the line in its set); the thread is marked killed, so an
 * access that would need the monitor throws instead of waiting for an answer.
 */
import assert from "node:assert/strict";
import { WorkerProc } from "../../../monitors/processor/worker_proc.ts";
import {
  allocateCache,
  allocateThreadBlock,
  cacheViews,
  CTL,
  F64,
  LINE_BYTES,
  lineKey,
  STATE_DIRTY,
  STATE_VALID,
  STATE_WRITABLE,
  threadViews,
} from "../../../monitors/processor/layout.ts";
import { mulberry32 } from "../../../kernel/prng.ts";

const PID = 5;
/** An address near the top of the usual mmap area: well above 2^32. */
const HIGH = 0x7eff_0000_0000;

/** A thread over a 64-line, 8-way cache holding `vlines` (writable, dirty, zero-filled). */
function residentThread(vlines: number[]) {
  const cache = allocateCache(64, 8);
  const views = cacheViews(cache);
  for (const vline of vlines) {
    let slot = (vline % views.sets) * views.ways;
    while (views.keys[slot] !== -1) slot++;
    views.keys[slot] = lineKey(PID, vline);
    views.state[slot] = STATE_VALID | STATE_WRITABLE | STATE_DIRTY;
  }
  const block = allocateThreadBlock();
  const thread = threadViews(block);
  thread.ctl[CTL.KILLED] = 1; // no monitor: a real miss must throw, not wait
  const proc = new WorkerProc({
    pid: PID,
    tid: 0,
    args: [],
    workload: "",
    entry: "main",
    arg: undefined,
    cache,
    block,
    stamps: undefined,
    roofline: { flopsPerNs: 2, bytesPerNs: 4 },
  }, () => {});
  return { proc, thread };
}

Deno.test("typed hits are counted exactly, with their sizes, across many hit budgets", () => {
  const first = HIGH / LINE_BYTES;
  const lines = [first, first + 1, first + 2, first + 3];
  const { proc, thread } = residentThread(lines);
  const random = mulberry32(7);
  const at = (align: number) =>
    HIGH + Math.floor(random() * (lines.length * LINE_BYTES / align)) * align;
  // Every typed access, each more times than one hit budget (1024) holds.
  const accessors: [number, (k: number) => void][] = [
    [1, (k) => proc.storeU8(at(1), k)],
    [1, () => proc.loadU8(at(1))],
    [2, (k) => proc.storeU16(at(2), k)],
    [2, () => proc.loadU16(at(2))],
    [4, (k) => proc.storeU32(at(4), k)],
    [4, () => proc.loadU32(at(4))],
    [4, (k) => proc.storeI32(at(4), -k)],
    [4, () => proc.loadI32(at(4))],
    [4, (k) => proc.storeF32(at(4), k + 0.5)],
    [4, () => proc.loadF32(at(4))],
    [8, (k) => proc.storeF64(at(8), k + 0.25)],
    [8, () => proc.loadF64(at(8))],
    [8, () => proc.loadU64(at(8))],
  ];
  let accesses = 0;
  let bytes = 0;
  for (const [size, access] of accessors) {
    const count = 1500 + Math.floor(random() * 2000);
    for (let k = 0; k < count; k++) access(k);
    accesses += count;
    bytes += size * count;
  }
  proc.finish();
  assert.equal(thread.f64[F64.HITS], accesses);
  assert.ok(bytes > accesses);
  // Hits add no model time of their own; declared compute does, through the roofline.
  assert.equal(thread.f64[F64.COMPUTE_NS], 0);
  proc.compute({ flops: 100, bytes: 100 }); // compute-bound: 100 / 2 > 100 / 4
  proc.compute({ bytes: 400 }); // memory-bound: 400 / 4
  proc.finish();
  assert.equal(thread.f64[F64.COMPUTE_NS], 150);
  assert.throws(() => proc.compute({ flops: -1 }), /flops must be a finite number >= 0/);
  assert.throws(() => proc.compute(5 as never), /needs an object/);
});

Deno.test("values read back across many hit budgets match a plain reference array", () => {
  const first = HIGH / LINE_BYTES + 17;
  const { proc } = residentThread([first, first + 1]);
  const reference = new Float32Array(2 * LINE_BYTES / 4);
  const random = mulberry32(11);
  for (let k = 0; k < 20_000; k++) {
    const word = Math.floor(random() * reference.length);
    const addr = first * LINE_BYTES + 4 * word;
    if (random() < 0.5) {
      const value = Math.fround(random() * 1000 - 500);
      proc.storeF32(addr, value);
      reference[word] = value;
    } else {
      assert.equal(proc.loadF32(addr), reference[word], `word ${word} after ${k} accesses`);
    }
  }
});

Deno.test("lines 4 GiB apart share low address bits but never each other's data", () => {
  // Same low 32 bits, so the same TLB entry and line offset: only the high bits differ.
  const a = HIGH / LINE_BYTES;
  const b = a + 2 ** 20;
  const c = a - 2 ** 20;
  const { proc } = residentThread([a, b, c]);
  proc.storeF64(a * LINE_BYTES + 8, 1.25);
  proc.storeF64(b * LINE_BYTES + 8, 2.5);
  proc.storeF64(c * LINE_BYTES + 8, -3.75);
  for (let k = 0; k < 3000; k++) {
    assert.equal(proc.loadF64(a * LINE_BYTES + 8), 1.25);
    assert.equal(proc.loadF64(b * LINE_BYTES + 8), 2.5);
    assert.equal(proc.loadF64(c * LINE_BYTES + 8), -3.75);
  }
  proc.storeU8(b * LINE_BYTES + 9, 0xff);
  assert.equal(proc.loadU8(a * LINE_BYTES + 9), new Uint8Array(new Float64Array([1.25]).buffer)[1]);
});

Deno.test("unaligned and line-straddling loads go byte-wise and read the right bytes", () => {
  const first = HIGH / LINE_BYTES + 40;
  const { proc } = residentThread([first, first + 1]);
  const end = (first + 1) * LINE_BYTES; // the boundary between the two lines
  for (let k = 0; k < 8; k++) proc.storeU8(end - 4 + k, 0x10 + k);
  assert.equal(proc.loadU32(end - 2), 0x15141312); // straddles the boundary
  assert.equal(proc.loadU16(end - 3), 0x1211); // unaligned, inside the first line
  assert.equal(
    proc.loadF64(end - 4),
    new Float64Array(new Uint8Array([0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17]).buffer)[0],
  );
  proc.storeU32(end - 1, 0xaabbccdd);
  assert.equal(proc.loadU8(end - 1), 0xdd);
  assert.equal(proc.loadU8(end + 2), 0xaa);
});

Deno.test("addresses that are not non-negative integers are refused with EINVAL or EFAULT", () => {
  const first = HIGH / LINE_BYTES;
  const { proc } = residentThread([first]);
  const base = first * LINE_BYTES;
  for (const bad of [base + 0.5, NaN, -4, Infinity]) {
    assert.throws(() => proc.loadF32(bad), (e: Error & { code?: string }) => {
      return e.code === "EINVAL" || e.code === "EFAULT";
    }, `loadF32(${bad})`);
    assert.throws(() => proc.storeU8(bad, 1), (e: Error & { code?: string }) => {
      return e.code === "EINVAL" || e.code === "EFAULT";
    }, `storeU8(${bad})`);
  }
  assert.throws(() => proc.loadU32(2 ** 53), (e: Error & { code?: string }) => e.code === "EFAULT");
  // The line itself is still served afterwards.
  proc.storeF32(base + 4, 9.5);
  assert.equal(proc.loadF32(base + 4), 9.5);
});
