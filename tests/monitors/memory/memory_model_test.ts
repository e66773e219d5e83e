/**
 * Property test: random sequences of mmap / munmap / mprotect / mremap / brk / fork /
 * store / load on several processes, run on three memory components with 64 KiB vRegions
 * and a DRAM pool of 4 frames each (so pages spill to swap and come back), and on a
 * page-level reference model. Every result, every byte loaded and the final mappings
 * must agree; processes never see each other's memory; exit frees everything.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
} from "../../../kernel/abi.ts";
import { PAGE_SIZE } from "../../../kernel/messages.ts";
import type { AddressSpaceView } from "../../../monitors/memory/home.ts";
import { HEAP_START } from "../../../monitors/memory/mod.ts";
import { bootMemoryCluster, type FakeProcess, type MemoryCluster } from "./memory_harness.ts";

const P = PAGE_SIZE;
/** The window most operations aim at: 48 pages over four 64 KiB vRegions. */
const WINDOW = 0x300000000;
const WINDOW_PAGES = 48;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const MEMORIES = ["m0", "m1", "m2"];

type Where = { window: number } | { mapped: number };

type Op =
  | { k: "mmap"; proc: number; page: number | null; pages: number; prot: number }
  | { k: "munmap"; proc: number; page: number; pages: number }
  | { k: "mprotect"; proc: number; page: number; pages: number; prot: number }
  | {
    k: "mremap";
    proc: number;
    at: Where;
    pages: number;
    newPages: number;
    mode: "inplace" | "maymove" | "fixed";
    target: number;
  }
  | { k: "brk"; proc: number; delta: number }
  | { k: "fork"; proc: number }
  | { k: "store"; proc: number; at: Where; offset: number; length: number; seed: number }
  | { k: "load"; proc: number; at: Where; offset: number; length: number };

const proc = fc.nat(3);
const where: fc.Arbitrary<Where> = fc.oneof(
  { weight: 1, arbitrary: fc.nat(WINDOW_PAGES - 1).map((window) => ({ window })) },
  { weight: 3, arbitrary: fc.nat(1000).map((mapped) => ({ mapped })) },
);
const prot = fc.constantFrom(0, 1, 3, 3, 3, 3);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant("mmap" as const),
      proc,
      page: fc.option(fc.nat(WINDOW_PAGES - 1), { freq: 4 }),
      pages: fc.integer({ min: 1, max: 8 }),
      prot,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("munmap" as const),
      proc,
      page: fc.nat(WINDOW_PAGES - 1),
      pages: fc.integer({ min: 1, max: 6 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("mprotect" as const),
      proc,
      page: fc.nat(WINDOW_PAGES - 1),
      pages: fc.integer({ min: 1, max: 6 }),
      prot,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant("mremap" as const),
      proc,
      at: where,
      pages: fc.integer({ min: 1, max: 4 }),
      newPages: fc.integer({ min: 1, max: 8 }),
      mode: fc.constantFrom("inplace" as const, "maymove" as const, "fixed" as const),
      target: fc.nat(WINDOW_PAGES - 1),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("brk" as const),
      proc,
      delta: fc.integer({ min: -3, max: 6 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("fork" as const), proc }) },
  {
    weight: 8,
    arbitrary: fc.record({
      k: fc.constant("store" as const),
      proc,
      at: where,
      offset: fc.nat(P - 1),
      length: fc.integer({ min: 1, max: 300 }),
      seed: fc.nat(255),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant("load" as const),
      proc,
      at: where,
      offset: fc.nat(P - 1),
      length: fc.integer({ min: 1, max: 300 }),
    }),
  },
);

interface Page {
  prot: number;
  data: Uint8Array | null;
}

/** The reference: a map of pages (VMAs are runs of pages with the same protection). */
class Model {
  pages = new Map<number, Page>();
  brk = HEAP_START;

  clone(): Model {
    const m = new Model();
    for (const [vpn, p] of this.pages) {
      m.pages.set(vpn, { prot: p.prot, data: p.data?.slice() ?? null });
    }
    m.brk = this.brk;
    return m;
  }

  isFree(start: number, end: number): boolean {
    for (let a = start; a < end; a += P) if (this.pages.has(a / P)) return false;
    return true;
  }

  unmap(start: number, end: number): void {
    for (let a = start; a < end; a += P) this.pages.delete(a / P);
  }

  map(start: number, end: number, prot: number): void {
    for (let a = start; a < end; a += P) this.pages.set(a / P, { prot, data: null });
  }

  /** End of the run of same-protection pages holding `addr`. */
  runEnd(addr: number): number {
    const page = this.pages.get(addr / P)!;
    let end = addr + P;
    while (this.pages.get(end / P)?.prot === page.prot) end += P;
    return end;
  }

  /** The mappings as Linux would list them. */
  runs(): [number, number, number][] {
    const out: [number, number, number][] = [];
    for (const vpn of [...this.pages.keys()].sort((a, b) => a - b)) {
      const prot = this.pages.get(vpn)!.prot;
      const last = out[out.length - 1];
      if (last && last[1] === vpn * P && last[2] === prot) last[1] += P;
      else out.push([vpn * P, vpn * P + P, prot]);
    }
    return out;
  }

  mappedPage(index: number): number | undefined {
    const vpns = [...this.pages.keys()].sort((a, b) => a - b);
    return vpns.length ? vpns[index % vpns.length] * P : undefined;
  }
}

function address(model: Model, at: Where): number {
  if ("window" in at) return WINDOW + at.window * P;
  return model.mappedPage(at.mapped) ?? WINDOW;
}

function pattern(seed: number, length: number): Uint8Array {
  let x = seed * 2654435761 >>> 0 || 1;
  return Uint8Array.from({ length }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x & 0xff;
  });
}

async function errnoOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

interface Live {
  fake: FakeProcess;
  model: Model;
}

/** Runs one op on the emulator and the model and checks they agree. */
async function step(
  mc: MemoryCluster,
  procs: Live[],
  op: Op,
  nextPid: () => number,
): Promise<void> {
  const live = procs[op.proc % procs.length];
  const { fake, model } = live;
  switch (op.k) {
    case "mmap": {
      const len = op.pages * P;
      if (op.page === null) {
        const addr = await fake.mmap(0, len, op.prot, ANON);
        assert.equal(addr % P, 0);
        assert.ok(
          model.isFree(addr, addr + len),
          `mmap placed 0x${addr.toString(16)} on a mapping`,
        );
        model.map(addr, addr + len, op.prot);
      } else {
        const start = WINDOW + op.page * P;
        assert.equal(await fake.mmap(start, len, op.prot, ANON | MAP_FIXED), start);
        model.unmap(start, start + len);
        model.map(start, start + len, op.prot);
      }
      return;
    }
    case "munmap": {
      const start = WINDOW + op.page * P;
      await fake.munmap(start, op.pages * P);
      model.unmap(start, start + op.pages * P);
      return;
    }
    case "mprotect": {
      const start = WINDOW + op.page * P;
      const got = await errnoOf(fake.mprotect(start, op.pages * P, op.prot));
      let at = start;
      while (at < start + op.pages * P && model.pages.has(at / P)) {
        model.pages.get(at / P)!.prot = op.prot;
        at += P;
      }
      assert.equal(got, at === start + op.pages * P ? undefined : "ENOMEM", "mprotect");
      return;
    }
    case "brk": {
      const old = model.brk;
      const wanted = old + op.delta * P;
      const got = await fake.brk(wanted);
      let expected = old;
      if (wanted >= HEAP_START) {
        if (op.delta <= 0) {
          model.unmap(wanted, old);
          expected = wanted;
        } else if (model.isFree(old, wanted + P)) {
          model.map(old, wanted, 3);
          expected = wanted;
        }
      }
      assert.equal(got, expected, "brk");
      model.brk = expected;
      return;
    }
    case "fork": {
      if (procs.length >= 4) return;
      const child = mc.process(nextPid(), fake.home);
      await child.fork(fake.pid);
      procs.push({ fake: child, model: model.clone() });
      return;
    }
    case "store": {
      const addr = address(model, op.at) + op.offset;
      const data = pattern(op.seed, op.length);
      const got = await errnoOf(fake.store(addr, data));
      // The harness stores page by page: pages before a faulting one are written.
      let fault: string | undefined;
      for (let done = 0; done < data.length;) {
        const at = addr + done;
        const within = at % P;
        const n = Math.min(P - within, data.length - done);
        const page = model.pages.get((at - within) / P);
        if (!page || !(page.prot & 2)) {
          fault = "EFAULT";
          break;
        }
        page.data ??= new Uint8Array(P);
        page.data.set(data.subarray(done, done + n), within);
        done += n;
      }
      assert.equal(got, fault, `store at 0x${addr.toString(16)}`);
      return;
    }
    case "load": {
      const addr = address(model, op.at) + op.offset;
      let fault = false;
      const want = new Uint8Array(op.length);
      for (let i = 0; i < op.length; i++) {
        const page = model.pages.get(Math.floor((addr + i) / P));
        if (!page || page.prot === 0) {
          fault = true;
          break;
        }
        want[i] = page.data?.[(addr + i) % P] ?? 0;
      }
      try {
        const got = await fake.load(addr, op.length);
        assert.ok(!fault, `load at 0x${addr.toString(16)} should fault`);
        assert.deepEqual(got, want, `load at 0x${addr.toString(16)}`);
      } catch (e) {
        if ((e as { code?: string }).code !== "EFAULT") throw e;
        assert.ok(fault, `load at 0x${addr.toString(16)} faulted: ${(e as Error).message}`);
      }
      return;
    }
    case "mremap": {
      const old = address(model, op.at);
      const oldLen = op.pages * P;
      const newLen = op.newPages * P;
      const target = WINDOW + op.target * P;
      const flags = op.mode === "inplace"
        ? 0
        : op.mode === "maymove"
        ? MREMAP_MAYMOVE
        : MREMAP_MAYMOVE | MREMAP_FIXED;
      let got: number | string;
      try {
        got = await fake.mremap(old, oldLen, newLen, flags, target);
      } catch (e) {
        got = (e as { code?: string }).code ?? String(e);
      }
      // The expected outcome, page by page.
      const fixed = op.mode === "fixed";
      if (fixed && old + oldLen > target && target + newLen > old) {
        assert.equal(got, "EINVAL", "mremap overlapping target");
        return;
      }
      if (!model.pages.has(old / P) || old + oldLen > model.runEnd(old)) {
        assert.equal(got, "EFAULT", "mremap of a range outside one mapping");
        return;
      }
      const prot = model.pages.get(old / P)!.prot;
      const move = (to: number, keep: number) => {
        const moved: Page[] = [];
        for (let i = 0; i < keep; i += P) moved.push(model.pages.get((old + i) / P)!);
        model.unmap(old, old + oldLen);
        model.unmap(to, to + newLen);
        model.map(to, to + newLen, prot);
        moved.forEach((p, i) => model.pages.set(to / P + i, { prot, data: p.data }));
      };
      if (fixed) {
        assert.equal(got, target, "mremap MREMAP_FIXED");
        move(target, Math.min(oldLen, newLen));
      } else if (newLen <= oldLen) {
        assert.equal(got, old, "mremap shrink");
        model.unmap(old + newLen, old + oldLen);
      } else if (old + oldLen === model.runEnd(old) && model.isFree(old + oldLen, old + newLen)) {
        assert.equal(got, old, "mremap grow in place");
        model.map(old + oldLen, old + newLen, prot);
      } else if (op.mode === "maymove") {
        assert.equal(typeof got, "number", `mremap should move, got ${got}`);
        const to = got as number;
        assert.ok(model.isFree(to, to + newLen), "mremap moved onto a mapping");
        move(to, oldLen);
      } else {
        assert.equal(got, "ENOMEM", "mremap cannot grow in place");
      }
      return;
    }
  }
}

/** Everything mapped reads back as the model says, and the mappings match. */
async function checkWhole(mc: MemoryCluster, { fake, model }: Live): Promise<void> {
  const view = mc.memory(fake.home).query("address-space", { pid: fake.pid }) as AddressSpaceView;
  assert.deepEqual(view.vmas.map((v) => [v.start, v.end, v.prot]), model.runs(), "mappings");
  for (const [vpn, page] of model.pages) {
    if (page.prot === 0) continue;
    const got = await fake.fetch(vpn * P);
    assert.deepEqual(got, page.data ?? new Uint8Array(P), `page 0x${(vpn * P).toString(16)}`);
  }
}

Deno.test("memory components agree with a reference model under random address-space calls, with swap", async () => {
  const mc = await bootMemoryCluster({
    memories: MEMORIES.length,
    vregionBytes: 64 * 1024,
    memoryOptions: { dramBytes: 4 * P, evictBatch: 2, onFull: "swap" },
  });
  let pid = 1000;
  const nextPid = () => ++pid;
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 20, maxLength: 60, size: "max" }),
        async (ops) => {
          const procs: Live[] = [];
          for (const home of ["m0", "m1"]) {
            const fake = mc.process(nextPid(), home);
            await fake.fork();
            procs.push({ fake, model: new Model() });
          }
          try {
            for (const op of ops) await step(mc, procs, op, nextPid);
            for (const live of procs) await checkWhole(mc, live);
          } finally {
            for (const { fake } of procs) await fake.exit();
          }
          for (const id of MEMORIES) {
            const stats = mc.memory(id).stats();
            assert.equal(stats.framesUsed, 0, `${id}: frames left after exit`);
            assert.equal(stats.swappedPages, 0, `${id}: swap slots left after exit`);
          }
        },
      ),
      { seed: 20240604, numRuns: 200 },
    );
    const totals = MEMORIES.map((id) => mc.memory(id).stats() as Record<string, number>);
    const sum = (k: string) => totals.reduce((n, s) => n + s[k], 0);
    assert.ok(sum("swapOuts") > 0 && sum("swapIns") > 0, "the tiny pools spilled to swap");
    assert.ok(totals.every((s) => s.flushes > 0), "every component owned some pages");
  } finally {
    await mc.stop();
  }
});
