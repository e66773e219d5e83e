/**
 * SIGKILL a PMEM memory component — a real OS process, reached over TCP — right after it
 * acknowledged writes, with more writes in flight; restart it on the same file and read
 * everything back: every slot holds its last acknowledged write, or a write that was not
 * acknowledged, whole (never torn, never an older value). Writes overwrite a fixed set of
 * slots and the file is small (1 MiB, a 256 KiB log), so the log fills and checkpoints
 * run every few rounds, some of them when the kill comes. Each round has its own seed
 * (printed on failure); rounds: `LEGOEMU_PMEM_CRASH_ROUNDS` (default 4; `deno task
 * crash:pmem` runs 40).
 */

import assert from "node:assert/strict";
import type { LatencyModel } from "../../../kernel/latency.ts";
import { PAGE_SIZE } from "../../../kernel/messages.ts";
import { mulberry32 } from "../../../kernel/prng.ts";
import { RpcNode } from "../../../kernel/rpc.ts";
import { type PersistPath, PmemClient } from "../../../monitors/memory/pmem_paths.ts";
import { createStockRegistry } from "../../../plugins/stock.ts";
import { createTcpTransport } from "../../../transports/tcp/mod.ts";
import { componentArgs, spawnComponent, startTcpManager } from "../../tcp_manager.ts";
import { within } from "../../within.ts";

const ROUNDS = Number(Deno.env.get("LEGOEMU_PMEM_CRASH_ROUNDS") ?? 4);
const PID = 3;
const BASE = 0x40000000;
const PAGES = 40;
const SIZES = [16, 64, 256, 1024, 4096];

/** Slots packed into the pages, sizes cycling through {@link SIZES}. */
function slots(): { vaddr: number; size: number }[] {
  const out: { vaddr: number; size: number }[] = [];
  let page = 0;
  let offset = 0;
  for (let i = 0;; i++) {
    const size = SIZES[i % SIZES.length];
    if (offset + size > PAGE_SIZE) {
      page++;
      offset = 0;
    }
    if (page >= PAGES) return out;
    out.push({ vaddr: BASE + page * PAGE_SIZE + offset, size });
    offset += size;
  }
}

interface Slot {
  vaddr: number;
  size: number;
  /** The last acknowledged (or since recovered) content. */
  durable: Uint8Array;
  /** A write sent and not acknowledged before the kill, if any. */
  pending?: Uint8Array;
  /** A write is in flight now. */
  busy: boolean;
}

Deno.test("SIGKILL of a PMEM memory component loses no acknowledged write and tears none", async () => {
  const dir = await Deno.makeTempDir({ prefix: "legoemu-pmem-crash-" });
  const secretFile = `${dir}/cluster.secret`;
  await Deno.writeTextFile(secretFile, "0123456789abcdef0123456789abcdef\n", { mode: 0o600 });
  const registry = createStockRegistry();
  const gm = await startTcpManager("pmem-crash", registry, secretFile, () => {});
  const model = await registry.create<LatencyModel>("latency-model", "legoos-ib", {}, {});
  const args = componentArgs("m0", "memory", gm, secretFile, {
    pmem: { path: `${dir}/m0.pmem`, bytes: 1 << 20 },
  });
  const table: Slot[] = slots().map(({ vaddr, size }) => ({
    vaddr,
    size,
    durable: new Uint8Array(size),
    busy: false,
  }));
  let writes = 0;
  let acks = 0;
  let inFlightAtKills = 0;
  let unackedBack = 0;
  let checkpoints = 0;
  const connect = async (round: number) => {
    const transport = createTcpTransport({ log: () => {}, reconnectTimeoutMs: 300, secretFile });
    const endpoint = await transport.attach(`p${round}`, {
      listen: null,
      manager: { id: "gm", address: gm.addresses.tcp },
    });
    const rpc = new RpcNode(endpoint);
    return { transport, endpoint, rpc };
  };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const seed = 0x5eed0000 + round;
      const random = mulberry32(seed);
      const m0 = await spawnComponent(args);
      const { transport, endpoint, rpc } = await connect(round);
      try {
        // Every slot holds its last acknowledged write, or the one in flight at the kill.
        for (const slot of round === 0 ? [] : table) {
          const pageAddr = slot.vaddr - (slot.vaddr % PAGE_SIZE);
          const { page } = await rpc.call("m0", "P2M_PAGE_FETCH", { pid: PID, vaddr: pageAddr });
          const got = page.subarray(slot.vaddr - pageAddr, slot.vaddr - pageAddr + slot.size);
          const same = (a: Uint8Array) => a.every((b, i) => b === got[i]);
          const where = `seed 0x${(seed - 1).toString(16)}: slot of ${slot.size} B at 0x${
            slot.vaddr.toString(16)
          }`;
          if (slot.pending && same(slot.pending)) {
            slot.durable = slot.pending; // it was made durable before the kill
            unackedBack++;
          } else {
            assert.ok(
              same(slot.durable),
              `${where} holds neither its last acknowledged write nor the one in flight (lost or torn)`,
            );
          }
          slot.pending = undefined;
        }
        const info = await rpc.call("m0", "MGR_QUERY", { what: "pmem", args: {} });
        assert.equal((info.result as { bytes: number }).bytes, 1 << 20);
        checkpoints += (info.result as { recovered: { imageRecords: number } }).recovered
            .imageRecords > 0
          ? 1
          : 0;
        if (round === 0) {
          await rpc.call("m0", "M2M_VMA_SET", {
            pid: PID,
            home: "p0",
            start: BASE,
            end: BASE + PAGES * PAGE_SIZE,
            discard: true,
            vmas: [{
              start: BASE,
              end: BASE + PAGES * PAGE_SIZE,
              prot: 3,
              shared: false,
              path: "",
              offset: 0,
            }],
          });
        }
        if (round === ROUNDS - 1) break;
        const client = await PmemClient.connect({ rpc, endpoint, target: "m0", model });
        // Writes in flight all the time; kill right after the k-th acknowledgment.
        const killAfter = 5 + Math.floor(random() * 40);
        let acked = 0;
        let killed: Promise<void> | undefined;
        const inflight = new Set<Promise<unknown>>();
        for (let i = 0; killed === undefined && i < 400; i++) {
          const free = table.filter((t) => !t.busy);
          const slot = free[Math.floor(random() * free.length)];
          const data = new Uint8Array(slot.size);
          for (let b = 0; b < slot.size; b++) data[b] = 1 + Math.floor(random() * 255);
          slot.busy = true;
          slot.pending = data;
          writes++;
          const path = ([1, 3, 4] as PersistPath[])[Math.floor(random() * 3)];
          const p = client.write(path, {
            pid: PID,
            vaddr: slot.vaddr,
            data,
            windowOffset: (i % 200) * PAGE_SIZE,
          })
            .then(() => {
              if (killed === undefined) {
                slot.durable = data;
                slot.pending = undefined;
                slot.busy = false;
                acks++;
              } else {
                // Acknowledged while the kill was under way: durable, so it must be back.
                slot.durable = data;
                slot.pending = undefined;
              }
              if (++acked === killAfter) {
                inFlightAtKills += inflight.size - 1;
                killed = m0.kill();
              }
            }, () => {/* in flight at the kill */});
          inflight.add(p);
          p.finally(() => inflight.delete(p));
          if (inflight.size >= 16) await Promise.race(inflight);
        }
        await within(killed ?? m0.kill(), 10_000, "the kill");
        await within(Promise.allSettled(inflight), 10_000, "writes in flight at the kill");
        for (const slot of table) slot.busy = false;
      } finally {
        await rpc.close();
        await transport.close();
        await m0.kill();
      }
    }
    assert.ok(acks > ROUNDS, "writes were acknowledged");
    assert.ok(inFlightAtKills > 0, "some writes were in flight at the kills");
    console.log(
      `${ROUNDS - 1} kills: ${writes} writes to ${table.length} slots, ${acks} acknowledged; ` +
        `${inFlightAtKills} in flight at the kills, ${unackedBack} of those came back whole, ` +
        `the rest not at all; ${checkpoints} restarts replayed a checkpoint image`,
    );
  } finally {
    await gm.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
