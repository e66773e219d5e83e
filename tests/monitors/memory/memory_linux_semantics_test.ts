/**
 * Replays the address-space cases of tests/fixtures/linux_mm/cases.json — recorded from
 * the real Linux kernel by generate.py / probe.c — on the memory components, through the
 * P2M messages a processor sends, and checks every result, every fault and the final
 * mappings against Linux. Two memory components and 64 KiB vRegions, so most cases span
 * vRegions owned by different components; the owners' VMAs are checked against the
 * home's after every case.
 */

import assert from "node:assert/strict";
import { PAGE_SIZE } from "../../../kernel/messages.ts";
import { HEAP_START, type Vma } from "../../../monitors/memory/mod.ts";
import type { AddressSpaceView } from "../../../monitors/memory/home.ts";
import { bootMemoryCluster, type FakeProcess } from "./memory_harness.ts";

interface Step {
  op: "mmap" | "munmap" | "mprotect" | "mremap" | "brk" | "store" | "load";
  addr: string;
  length?: number;
  prot?: number;
  flags?: number;
  offset?: number;
  newLength?: number;
  newAddr?: string;
  value?: number;
  expect: Record<string, unknown>;
}

interface Case {
  name: string;
  steps: Step[];
  maps: { start: string; end: string; perms: string }[];
}

const fixture = JSON.parse(
  await Deno.readTextFile(new URL("../../fixtures/linux_mm/cases.json", import.meta.url)),
) as { windowBytes: number; pageSize: number; cases: Case[] };

/** Where the emulator puts the case window (Linux's is wherever mmap found room). */
const WINDOW = 0x200000000;
const WS = fixture.windowBytes;
const BRK = HEAP_START;

function resolve(word: string, last: number): number {
  if (word === "null") return 0;
  const base = word[0] === "w" ? WINDOW : word[0] === "b" ? BRK : word[0] === "l" ? last : NaN;
  if (!Number.isNaN(base)) return base + Number(word.slice(1));
  return Number(word);
}

function describe(addr: number): string {
  const w = addr - WINDOW;
  const b = addr - BRK;
  const sign = (n: number) => (n < 0 ? `-${-n}` : `+${n}`);
  if (w >= -2 * WS && w < 3 * WS) return `w${sign(w)}`;
  if (b >= -WS && b < 4 * WS) return `b${sign(b)}`;
  if (addr >= 0x7ffffff00000) return `0x${addr.toString(16)}`;
  return "elsewhere";
}

/** The mappings inside the windows, clipped and named as probe.c names them. */
function windowMaps(vmas: AddressSpaceView["vmas"]) {
  const out: { start: string; end: string; perms: string }[] = [];
  for (const v of vmas) {
    for (const [lo, hi] of [[WINDOW - 2 * WS, WINDOW + 3 * WS], [BRK, BRK + 4 * WS]]) {
      if (v.end > lo && v.start < hi) {
        out.push({
          start: describe(Math.max(v.start, lo)),
          end: describe(Math.min(v.end, hi)),
          perms: v.perms,
        });
      }
    }
  }
  return out;
}

async function outcome(p: FakeProcess, step: Step, last: { addr: number }) {
  const addr = resolve(step.addr, last.addr);
  try {
    switch (step.op) {
      case "mmap": {
        const got = await p.mmap(addr, step.length!, step.prot!, step.flags!, "", step.offset!);
        last.addr = got;
        return { ok: true, addr: describe(got) };
      }
      case "munmap":
        await p.munmap(addr, step.length!);
        return { ok: true };
      case "mprotect":
        await p.mprotect(addr, step.length!, step.prot!);
        return { ok: true };
      case "mremap": {
        const got = await p.mremap(
          addr,
          step.length!,
          step.newLength!,
          step.flags!,
          resolve(step.newAddr!, last.addr),
        );
        last.addr = got;
        return { ok: true, addr: describe(got) };
      }
      case "brk":
        return { ok: true, addr: describe(await p.brk(addr)) };
      case "store":
        await p.store(addr, new Uint8Array([step.value!]));
        return { ok: true };
      case "load":
        return { value: (await p.load(addr, 1))[0] };
    }
  } catch (e) {
    const code = (e as { code?: string }).code;
    if ((step.op === "load" || step.op === "store") && code === "EFAULT") {
      assert.match((e as Error).message, /segmentation fault/);
      return { fault: "SIGSEGV" };
    }
    if (step.op === "load" || step.op === "store") throw e;
    return { errno: code };
  }
}

/** Joins adjacent pieces that the owners hold separately (one per vRegion). */
function joined(vmas: Vma[]): Vma[] {
  const out: Vma[] = [];
  for (const v of [...vmas].sort((a, b) => a.start - b.start)) {
    const prev = out[out.length - 1];
    if (
      prev && prev.end === v.start && prev.prot === v.prot && prev.shared === v.shared &&
      prev.path === v.path
    ) {
      out[out.length - 1] = { ...prev, end: v.end };
    } else out.push(v);
  }
  return out;
}

Deno.test("address-space calls match the Linux table (tests/fixtures/linux_mm/cases.json)", async (t) => {
  assert.equal(fixture.pageSize, PAGE_SIZE);
  const mc = await bootMemoryCluster({ memories: 2, vregionBytes: 64 * 1024 });
  let pid = 100;
  try {
    for (const c of fixture.cases) {
      await t.step(c.name, async () => {
        const p = mc.process(++pid, "m0");
        await p.fork();
        const last = { addr: 0 };
        for (const [i, step] of c.steps.entries()) {
          const got = await outcome(p, step, last);
          assert.deepEqual(got, step.expect, `step ${i} (${step.op} ${step.addr})`);
        }
        const view = mc.memory("m0").query("address-space", { pid: p.pid }) as AddressSpaceView;
        assert.deepEqual(windowMaps(view.vmas), c.maps, "mappings at the end");
        // Every owner enforces exactly what the home holds.
        const owned = ["m0", "m1"].flatMap((id) =>
          (mc.memory(id).query("owned", { pid: p.pid }) as { vmas: Vma[] }).vmas
        );
        assert.deepEqual(
          joined(owned).map(({ start, end, prot }) => [start, end, prot]),
          view.vmas.map(({ start, end, prot }) => [start, end, prot]),
          "owners' VMAs",
        );
        await p.exit();
      });
    }
    for (const id of ["m0", "m1"]) {
      const stats = mc.memory(id).stats();
      assert.equal(stats.framesUsed, 0, `${id} frees every frame at exit`);
      assert.equal(stats.ownedProcesses, 0, `${id} forgets every process at exit`);
    }
  } finally {
    await mc.stop();
  }
});
