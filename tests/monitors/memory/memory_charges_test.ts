/**
 * Every component charges its own work: a request carries the caller's model time and
 * the reply carries back what serving it cost (`CallOptions.model`). Each test computes
 * the expected cost by hand from the latency model's constants.
 */

import assert from "node:assert/strict";
import { MAP_ANONYMOUS, MAP_PRIVATE, MREMAP_FIXED, MREMAP_MAYMOVE } from "../../../kernel/abi.ts";
import { encode, HEADER_SIZE } from "../../../kernel/codec.ts";
import type { LatencyModel } from "../../../kernel/latency.ts";
import { FLAG_REPLY, type MessageKind, PAGE_SIZE } from "../../../kernel/messages.ts";
import type { ModelCall } from "../../../kernel/rpc.ts";
import { bootMemoryCluster } from "./memory_harness.ts";

const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
/** Far after everything a test did before: every resource is idle again. */
const LATER = 1e9;

/** Body bytes of a `kind` request or reply, as the codec frames it. */
function bodyBytes(kind: MessageKind, body: Record<string, unknown>, reply = false): number {
  return encode({ kind, requestId: 1, src: "m0", dst: "s0", flags: reply ? FLAG_REPLY : 0, body })
    .length - HEADER_SIZE;
}

/** A round trip carrying these two bodies, as the RPC layer charges a further call. */
function rpcNs(
  latency: LatencyModel,
  kind: MessageKind,
  request: Record<string, unknown>,
  reply: Record<string, unknown>,
): number {
  return latency.messageNs(bodyBytes(kind, request) + bodyBytes(kind, reply, true));
}

function close(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) < 1e-3, `${what}: ${actual} ns, expected ${expected} ns`);
}

Deno.test("a fetch of a swapped-out page costs fault handling + the storage round trip + an SSD read", async () => {
  const mc = await bootMemoryCluster({
    memoryOptions: { dramBytes: 4 * PAGE_SIZE, evictBatch: 4 },
  });
  try {
    const latency = mc.cluster.latency;
    const p = mc.process(1, "m0");
    await p.fork();
    const base = await p.mmap(0, 8 * PAGE_SIZE, 3, ANON);
    // Five pages into four frames: the fifth write sends the first four to swap.
    for (let i = 0; i < 5; i++) await p.store(base + i * PAGE_SIZE, new Uint8Array([i + 1]));
    assert.equal(mc.memory("m0").stats().swappedPages, 4);
    const model: ModelCall = { atNs: LATER };
    const { page } = await mc.client.call("m0", "P2M_PAGE_FETCH", { pid: 1, vaddr: base }, {
      model,
    });
    assert.equal(page[0], 1);
    const swapRead = rpcNs(
      latency,
      "M2S_READ",
      { path: "@swap/m0.bin", offset: 0, length: PAGE_SIZE },
      { data: new Uint8Array(PAGE_SIZE) },
    );
    const expected = latency.service("page").latencyNs + swapRead +
      latency.deviceNs("ssd", "read", PAGE_SIZE);
    close(model.serviceNs!, expected, "swap-in");
    assert.equal(model.queueNs, 0);
    // A resident page costs the fault handling alone.
    const resident: ModelCall = { atNs: 2 * LATER };
    await mc.client.call("m0", "P2M_PAGE_FETCH", { pid: 1, vaddr: base + 4 * PAGE_SIZE }, {
      model: resident,
    });
    close(resident.serviceNs!, latency.service("page").latencyNs, "resident fetch");
  } finally {
    await mc.stop();
  }
});

Deno.test("fsync costs the write-back round trip, the SSD write and its flush", async () => {
  const mc = await bootMemoryCluster();
  try {
    const latency = mc.cluster.latency;
    await mc.process(1, "m0").fork();
    const path = "charged.bin";
    const data = new Uint8Array(4 * PAGE_SIZE).fill(7);
    // A first write and fsync find where the file lives (asked of the manager once).
    await mc.client.call("m0", "P2M_WRITE", { pid: 1, path, offset: 0, data });
    await mc.client.call("m0", "P2M_FSYNC", { pid: 1, path });
    await mc.client.call("m0", "P2M_WRITE", { pid: 1, path, offset: 0, data });
    const model: ModelCall = { atNs: LATER };
    await mc.client.call("m0", "P2M_FSYNC", { pid: 1, path }, { model });
    const writeBack = rpcNs(
      latency,
      "M2S_WRITE",
      { path, offset: 0, data, sync: true },
      { written: data.length },
    );
    // The buffer cache then asks storage for the file's new mtime (a metadata request).
    const stat = rpcNs(latency, "P2S_STAT", { path }, {
      size: 0,
      mode: 0,
      isDirectory: false,
      mtimeMs: 0,
    });
    const expected = latency.service("call").latencyNs + writeBack +
      latency.deviceNs("ssd", "write", data.length) +
      latency.deviceNs("ssd", "flush", data.length) + stat;
    close(model.serviceNs!, expected, "fsync");
    // The 4 MiB case of the issue: the device part alone is about 20 ms on this SSD.
    const fourMiB = latency.deviceNs("ssd", "write", 4 << 20);
    assert.ok(fourMiB > 19e6 && fourMiB < 21e6, `${fourMiB}`);
  } finally {
    await mc.stop();
  }
});

Deno.test("a storage component on PMEM charges fsync its flush", async () => {
  const pm = await bootMemoryCluster({ storageOptions: { device: "pmem" } });
  try {
    const latency = pm.cluster.latency;
    await pm.client.call("s0", "P2S_WRITE", {
      path: "p.bin",
      offset: 0,
      data: new Uint8Array(64),
      sync: false,
    });
    const model: ModelCall = { atNs: LATER };
    await pm.client.call("s0", "P2S_FSYNC", { path: "p.bin" }, { model });
    close(model.serviceNs!, latency.deviceNs("pmem", "flush", 0), "pmem fsync");
    assert.ok(model.serviceNs! > 0);
  } finally {
    await pm.stop();
  }
});

Deno.test("an mremap that moves pages to another memory component charges their copies", async () => {
  const vregion = 16 * PAGE_SIZE;
  const mc = await bootMemoryCluster({ memories: 2, vregionBytes: vregion });
  try {
    const latency = mc.cluster.latency;
    const p = mc.process(1, "m0");
    await p.fork();
    // Round-robin placement: the first two vRegions touched go to m0 and m1.
    const src = 4 * vregion;
    const dst = 5 * vregion;
    assert.notEqual(await p.owner(src), await p.owner(dst));
    const move = async (pages: number, atNs: number): Promise<number> => {
      await p.mmap(src, 4 * PAGE_SIZE, 3, ANON | 0x10);
      for (let i = 0; i < pages; i++) {
        await p.store(src + i * PAGE_SIZE, new Uint8Array(PAGE_SIZE).fill(i + 1));
      }
      const model: ModelCall = { atNs };
      await mc.client.call("m0", "P2M_MREMAP", {
        pid: 1,
        oldAddr: src,
        oldLength: 4 * PAGE_SIZE,
        newLength: 4 * PAGE_SIZE,
        flags: MREMAP_MAYMOVE | MREMAP_FIXED,
        newAddr: dst,
      }, { model });
      assert.equal((await p.load(dst + (pages - 1) * PAGE_SIZE, 1))[0], pages);
      await p.munmap(dst, 4 * PAGE_SIZE);
      return model.serviceNs!;
    };
    await move(1, LATER); // the first move also finds the vRegions' owners
    const one = await move(1, 2 * LATER);
    const three = await move(3, 3 * LATER);
    // Two more pages: read out of the source's DRAM, carried in both messages' data, and
    // written into the target's DRAM.
    const pagesRead = (n: number) =>
      bodyBytes("M2M_PAGES_READ", {
        addrs: Array.from({ length: n }, (_, i) => src + i * PAGE_SIZE),
        data: new Uint8Array(n * PAGE_SIZE),
        next: src + 4 * PAGE_SIZE,
      }, true);
    const pagesWrite = (n: number) =>
      bodyBytes("M2M_PAGES_WRITE", {
        pid: 1,
        addrs: Array.from({ length: n }, (_, i) => dst + i * PAGE_SIZE),
        data: new Uint8Array(n * PAGE_SIZE),
      });
    const readRequest = bodyBytes("M2M_PAGES_READ", { pid: 1, start: src, end: src, maxPages: 1 });
    const writeReply = bodyBytes("M2M_PAGES_WRITE", {}, true);
    // The home (m0) reads from the source owner and writes to the target owner: the data
    // crosses the network once, in whichever of the two is not the home itself.
    const remoteRead = (await p.owner(src)) !== "m0";
    const copies = (n: number) =>
      latency.deviceNs("dram", "read", n * PAGE_SIZE) +
      latency.deviceNs("dram", "write", n * PAGE_SIZE) +
      (remoteRead
        ? latency.messageNs(readRequest + pagesRead(n))
        : latency.messageNs(pagesWrite(n) + writeReply));
    close(three - one, copies(3) - copies(1), "two more pages moved");
    assert.ok(three - one > 0);
  } finally {
    await mc.stop();
  }
});

Deno.test("N requests at once queue at one memory component's worker, not at N components", async () => {
  for (const spread of [false, true]) {
    const mc = await bootMemoryCluster({ memories: 4, vregionBytes: 16 * PAGE_SIZE });
    const busy = mc.cluster.latency.service("page");
    try {
      const p = mc.process(1, "m0");
      await p.fork();
      const bases: number[] = [];
      for (let i = 0; i < 4; i++) {
        // Spread: one vRegion per memory component (round-robin); else all in one vRegion.
        const base = spread ? (8 + i) * 16 * PAGE_SIZE : 8 * 16 * PAGE_SIZE + i * PAGE_SIZE;
        await p.mmap(base, PAGE_SIZE, 3, ANON | 0x10);
        await p.owner(base);
        bases.push(base);
      }
      const owners = new Set(await Promise.all(bases.map((b) => p.owner(b))));
      assert.equal(owners.size, spread ? 4 : 1);
      const models = bases.map(() => ({ atNs: LATER }) as ModelCall);
      await Promise.all(
        bases.map(async (vaddr, i) =>
          mc.client.call(await p.owner(vaddr), "P2M_PAGE_FETCH", { pid: 1, vaddr }, {
            model: models[i],
          })
        ),
      );
      const waits = models.map((m) => m.queueNs!).sort((a, b) => a - b);
      if (spread) {
        assert.deepEqual(waits, [0, 0, 0, 0]);
      } else {
        // The k-th request waits for the k before it: 0, 1, 2, 3 worker service times.
        waits.forEach((w, k) => close(w, k * busy.busyNs, `request ${k}`));
        models.forEach((m) => close(m.serviceNs! - m.queueNs!, busy.latencyNs, "service"));
      }
    } finally {
      await mc.stop();
    }
  }
});
