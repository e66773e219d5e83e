/**
 * The processor's side of replication with a stand-in messenger and manager: a flush is
 * acknowledged to the thread only once the primary and the secondary both have it, is
 * charged the slower leg (not the sum), and a request to a memory component that fails
 * over is retried at its successor.
 */

import assert from "node:assert/strict";
import { ModelClock } from "../../../kernel/clock.ts";
import { KernelError } from "../../../kernel/errors.ts";
import type { MonitorContext } from "../../../kernel/monitor.ts";
import type { Messenger } from "../../../monitors/processor/messenger.ts";
import type { ChargedThread, ProcessRecord } from "../../../monitors/processor/records.ts";
import { FailoverMessenger } from "../../../monitors/processor/replica_route.ts";

function thread(): ChargedThread & { stalls: Record<string, number> } {
  const clock = new ModelClock(0);
  const stalls: Record<string, number> = {};
  return {
    clock,
    counters: {} as ChargedThread["counters"],
    stalls,
    chargeStall: (kind, ns) => void (stalls[kind] = (stalls[kind] ?? 0) + ns),
    modelNs: () => clock.nowNs(),
  };
}

function manager(answer: (id: string) => { state: string; secondary: string; successor: string }) {
  return {
    id: "p0",
    manager: "gm",
    rpc: {
      call: (_to: string, kind: string, body: { id: string }) =>
        kind === "MGR_REPLICA_INFO"
          ? Promise.resolve({ ...answer(body.id), home: "" })
          : Promise.reject(new KernelError("UNHANDLED", kind)),
    },
  } as unknown as MonitorContext;
}

const flush = { pid: 1, vaddr: 0x10000, page: new Uint8Array(4096) };

Deno.test("a flush is acknowledged only when the secondary has it too, and costs the slower leg", async () => {
  let release!: () => void;
  const held = new Promise<void>((r) => release = r);
  const sent: string[] = [];
  const inner: Messenger = {
    call: async (t, to, kind) => {
      sent.push(`${kind}->${to}`);
      if (kind === "P2M_PAGE_REPLICATE") {
        await held; // the secondary sits on its acknowledgement
        t.clock.advance(7_000);
        t.chargeStall("flush", 7_000);
      } else {
        t.clock.advance(5_000);
        t.chargeStall("flush", 5_000);
      }
      return {} as never;
    },
  };
  const messenger = new FailoverMessenger(inner, {
    context: manager((id) => ({ state: "up", secondary: id === "m0" ? "m1" : "", successor: "" })),
    processes: () => [],
  });
  const t = thread();
  let acknowledged = false;
  const done = messenger.call(t, "m0", "P2M_PAGE_FLUSH", flush, { request: 4112 })
    .then(() => acknowledged = true);
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 1));
  assert.deepEqual(sent.sort(), ["P2M_PAGE_FLUSH->m0", "P2M_PAGE_REPLICATE->m1"]);
  assert.equal(
    acknowledged,
    false,
    "the primary answered, the secondary did not: not acknowledged",
  );
  release();
  await done;
  assert.equal(t.clock.nowNs(), 7_000, "the legs overlap: the slower one, not 12 000 ns");
  assert.equal(t.stalls.flush, 7_000);
  assert.equal(messenger.stats.replicatedFlushes, 1);
  // A component without a secondary: one message, no replication.
  sent.length = 0;
  await messenger.call(thread(), "m2", "P2M_PAGE_FLUSH", flush, { request: 4112 });
  assert.deepEqual(sent, ["P2M_PAGE_FLUSH->m2"]);
});

Deno.test("a request to a failed primary is retried at its successor and the routes are rewritten", async () => {
  let failedOver = false;
  const inner: Messenger = {
    call: (_t, to, kind) => {
      if (to === "m0") {
        return Promise.reject(new KernelError("EHOSTUNREACH", "cannot reach m0"));
      }
      return Promise.resolve(
        (kind === "P2M_PAGE_FETCH" ? { page: new Uint8Array(1) } : {}) as never,
      );
    },
  };
  const process = {
    pid: 1,
    home: "m0",
    owners: new Map([[0, "m0"], [1, "m2"]]),
  } as unknown as ProcessRecord;
  const messenger = new FailoverMessenger(inner, {
    // Not declared down at first: the caller waits and asks again.
    context: manager((id) =>
      id === "m0"
        ? {
          state: failedOver ? "down" : "up",
          secondary: failedOver ? "" : "m1",
          successor: failedOver ? "m1" : "",
        }
        : { state: "up", secondary: "", successor: "" }
    ),
    processes: () => [process],
  });
  setTimeout(() => failedOver = true, 30);
  const reply = await messenger.call(thread(), "m0", "P2M_PAGE_FETCH", { pid: 1, vaddr: 0 }, {
    request: 16,
  });
  assert.ok("page" in reply);
  assert.equal(process.home, "m1");
  assert.deepEqual([...process.owners], [[0, "m1"], [1, "m2"]]);
  assert.equal(messenger.stats.rerouted, 1);
  // A failure that is not about reachability is the caller's.
  const refusing: Messenger = { call: () => Promise.reject(new KernelError("ENOMEM", "full")) };
  const plain = new FailoverMessenger(refusing, {
    context: manager(() => ({ state: "up", secondary: "m1", successor: "" })),
    processes: () => [],
  });
  await assert.rejects(
    plain.call(thread(), "m0", "P2M_PAGE_FLUSH", flush, { request: 4112 }),
    /full/,
  );
});

Deno.test("file writes not yet synced through a home that fails over make the next fsync fail with EIO, once", async () => {
  const sent: string[] = [];
  const inner: Messenger = {
    call: (_t, to, kind) => {
      sent.push(`${kind}->${to}`);
      return Promise.resolve((kind === "P2M_WRITE" ? { written: 64 } : {}) as never);
    },
  };
  const process = { pid: 1, home: "m0", owners: new Map() } as unknown as ProcessRecord;
  const messenger = new FailoverMessenger(inner, {
    context: manager(() => ({ state: "up", secondary: "m1", successor: "" })),
    processes: () => [process],
  });
  const file = { pid: 1, path: "a.dat" };
  await messenger.call(thread(), "m0", "P2M_WRITE", {
    ...file,
    offset: 0,
    data: new Uint8Array(64),
  }, { request: 80 });
  await messenger.call(thread(), "m0", "P2M_WRITE", {
    pid: 1,
    path: "b.dat",
    offset: 0,
    data: new Uint8Array(64),
  }, { request: 80 });
  await messenger.call(thread(), "m0", "P2M_FSYNC", { pid: 1, path: "b.dat" }, { request: 16 });
  messenger.watch.notify("m0", "m1"); // the manager's announcement
  assert.equal(process.home, "m1");
  await assert.rejects(
    messenger.call(thread(), process.home, "P2M_FSYNC", file, { request: 16 }),
    (e: Error & { code?: string }) =>
      e.code === "EIO" && /were lost with memory component/.test(e.message),
  );
  // Reported once; b.dat had been synced before the failure and is fine.
  await messenger.call(thread(), process.home, "P2M_FSYNC", file, { request: 16 });
  await messenger.call(thread(), process.home, "P2M_FSYNC", { pid: 1, path: "b.dat" }, {
    request: 16,
  });
  assert.deepEqual(sent.slice(-2), ["P2M_FSYNC->m1", "P2M_FSYNC->m1"]);
});
