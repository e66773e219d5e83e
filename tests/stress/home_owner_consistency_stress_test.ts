/**
 * Defect 7 of issue 17: a home and the owners of a process's vRegions must agree on its
 * mappings whatever fails while a call is carried out. Random address-space calls over
 * four vRegions owned by two owners, with an owner call failing at random; after every
 * call (failed or not) the VMAs each owner enforces are exactly the home's.
 */

import assert from "node:assert/strict";
import { KernelError } from "../../kernel/errors.ts";
import type { ComponentId } from "../../kernel/ids.ts";
import { mulberry32 } from "../../kernel/prng.ts";
import type { RpcNode } from "../../kernel/rpc.ts";
import { Home } from "../../monitors/memory/home.ts";
import type { OwnerLink } from "../../monitors/memory/owner_link.ts";
import { type Vma, VmaList } from "../../monitors/memory/vma.ts";
import { repeat, stressIterations } from "./stress.ts";

const PAGE = 4096;
const VREGION = 16 * PAGE;
const BASE = 0x100000; // vRegion 16; the calls stay inside vRegions 16..19
const PID = 7;

/** Two owners that remember the VMAs they were told, and fail when told to. */
function owners(random: () => number, failRate: number) {
  const held = new Map<ComponentId, VmaList>([["m0", new VmaList()], ["m1", new VmaList()]]);
  let calls = 0;
  let failures = 0;
  let armed = true;
  const maybeFail = (id: ComponentId, what: string) => {
    calls++;
    if (armed && random() < failRate) {
      failures++;
      throw new KernelError("ETIMEDOUT", `${id}: ${what} failed on purpose`);
    }
  };
  const link = (id: ComponentId): OwnerLink => ({
    id,
    setVmas(_pid, _home, start, end, _discard, vmas) {
      // A call may fail before or after the owner applied it (a lost reply).
      const after = random() < 0.5;
      if (!after) maybeFail(id, "M2M_VMA_SET");
      held.get(id)!.replace(start, end, vmas);
      if (after) maybeFail(id, "M2M_VMA_SET reply");
      return Promise.resolve(0);
    },
    readPages: (_pid, _start, end) =>
      Promise.resolve({ addrs: [], data: new Uint8Array(0), next: end }),
    writePages: () => Promise.resolve(),
    copyPages() {
      maybeFail(id, "M2M_PAGES_COPY");
      return Promise.resolve(0);
    },
    exit: () => Promise.resolve(0),
  });
  return { held, link, arm: (on: boolean) => armed = on, stats: () => ({ calls, failures }) };
}

/** vRegions alternate between the two owners. */
const rpc = {
  call: (_to: string, _kind: string, body: { vregion: number }) =>
    Promise.resolve({ owner: body.vregion % 2 === 0 ? "m0" : "m1" }),
} as unknown as RpcNode;

function ownersView(held: Map<ComponentId, VmaList>, home: Home): [number, number, number][] {
  const pieces: Vma[] = [];
  for (const [id, list] of held) {
    for (const v of list.vmas) {
      // Only the part of the owner's list in vRegions it owns counts.
      for (let at = v.start; at < v.end;) {
        const end = Math.min(v.end, (Math.floor(at / VREGION) + 1) * VREGION);
        const owner = home.vregions().find((r) => r.vregion === Math.floor(at / VREGION))?.owner;
        if (owner === id) pieces.push({ ...v, start: at, end });
        at = end;
      }
    }
  }
  pieces.sort((a, b) => a.start - b.start);
  const out: [number, number, number][] = [];
  for (const v of pieces) {
    const last = out[out.length - 1];
    if (last && last[1] === v.start && last[2] === v.prot) last[1] = v.end;
    else out.push([v.start, v.end, v.prot]);
  }
  return out;
}

function homeView(home: Home): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (const v of home.view(PID).vmas) {
    const last = out[out.length - 1];
    if (last && last[1] === v.start && last[2] === v.prot) last[1] = v.end;
    else out.push([v.start, v.end, v.prot]);
  }
  return out;
}

Deno.test("home and owners agree on every mapping after every call, whatever owner call fails", async () => {
  let seed = 1;
  let injected = 0;
  await repeat("home/owner consistency", async () => {
    const random = mulberry32(seed++);
    const o = owners(random, 0.15);
    const home = new Home({ id: "m0", rpc, manager: "gm", link: o.link });
    home.vregionBytes = VREGION;
    await home.fork(PID, 0);
    const page = () => BASE + Math.floor(random() * 64) * PAGE;
    const len = () => (1 + Math.floor(random() * 24)) * PAGE;
    for (let step = 0; step < 40; step++) {
      const kind = Math.floor(random() * 4);
      const call = kind === 0
        ? home.call(PID, (s) => s.mmap(page(), len(), 1 + Math.floor(random() * 3), 0x32, "", 0))
        : kind === 1
        ? home.call(PID, (s) => s.munmap(page(), len()))
        : kind === 2
        ? home.call(PID, (s) => s.mprotect(page(), len(), Math.floor(random() * 4)))
        : home.call(PID, (s) => s.mremap(page(), len(), len(), 1, 0));
      const outcome = await call.then(() => "ok", (e: Error) => e.message);
      // A failed call must leave no owner disagreeing with the home (once it repaired what
      // it could not undo, which the next call does first).
      o.arm(false);
      await home.call(PID, () => ({ addr: 0, steps: [] }));
      o.arm(true);
      assert.deepEqual(
        ownersView(o.held, home),
        homeView(home),
        `seed ${seed - 1} step ${step}: after ${
          ["mmap", "munmap", "mprotect", "mremap"][kind]
        } (${outcome})`,
      );
    }
    injected += o.stats().failures;
  });
  assert.ok(injected >= stressIterations(), `${injected} failures injected`);
});
