import assert from "node:assert/strict";
import { EventBus } from "../kernel/events.ts";
import type { LatencyModel } from "../kernel/latency.ts";
import { managerMonitorPlugin, type StockManager } from "../kernel/managers/mod.ts";
import type { Monitor, StorageMonitor } from "../kernel/monitor.ts";
import { type PluginKind, PluginRegistry } from "../kernel/plugins.ts";
import { RpcNode } from "../kernel/rpc.ts";
import { StorageClient, storageMonitorPlugin } from "../monitors/storage/mod.ts";
import { latencyModelPlugins } from "../plugins/latency/mod.ts";
import { placementPlugins } from "../plugins/placement/mod.ts";
import { createMemoryTransport } from "../transports/memory.ts";
import { createMonitorContext } from "../kernel/component.ts";

/** Seeded PRNG (mulberry32): the same seed replays the same sequence. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = 6;
const FILE = "@lab/journal.bin";
const OPS = 240;

Deno.test(`a storage component restarted mid-sequence loses nothing the client wrote (seed ${SEED})`, async () => {
  const registry = new PluginRegistry().register(managerMonitorPlugin).register(
    storageMonitorPlugin,
  );
  for (const p of [...latencyModelPlugins, ...placementPlugins]) registry.register(p);
  const transport = createMemoryTransport();
  const events = new EventBus();
  const latency = await registry.create<LatencyModel>("latency-model", "legoos-ib", {}, {});
  const root = Deno.makeTempDirSync({ prefix: "legoemu-restart-" });

  const start = async (id: string, kind: PluginKind, plugin: string, options: unknown) => {
    const endpoint = await transport.attach(id);
    const rpc = new RpcNode(endpoint, { defaultTimeoutMs: 1000 });
    const context = createMonitorContext({
      id,
      role: kind === "manager-monitor" ? "manager" : "storage",
      manager: "gm",
      rpc,
      endpoint,
      latency,
      registry,
      events,
    });
    const monitor = await registry.create<Monitor>(kind, plugin, options, context);
    await monitor.start();
    return { monitor, rpc };
  };
  const manager = await start("gm", "manager-monitor", "manager", { heartbeatMs: 20 });
  let s0 = await start("s0", "storage-monitor", "storage", { root });
  const incarnations = [s0.monitor];
  const clientNode = new RpcNode(await transport.attach("p0"));
  const files = new StorageClient(clientNode, {
    storage: "s0",
    vnode: undefined,
    chunkBytes: 96 * 1024, // chunks over 64 KiB take the server's asynchronous path
    timeoutMs: 150,
    retry: {
      attempts: 60,
      backoffMs: 2,
      maxBackoffMs: 40,
      on: ["ETIMEDOUT", "EHOSTUNREACH", "EAGAIN"],
    },
  });

  /** Stops s0 and starts it again with the same id and root. */
  const restart = async (abrupt: boolean) => {
    if (abrupt) {
      // The endpoint vanishes with requests in flight; their replies are lost.
      await s0.rpc.close();
      await s0.monitor.stop();
    } else {
      // Graceful: new requests get EAGAIN, running ones finish, then the endpoint goes.
      await s0.monitor.stop();
      await s0.rpc.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 30));
    s0 = await start("s0", "storage-monitor", "storage", { root });
    incarnations.push(s0.monitor);
  };

  const random = prng(SEED);
  const model = new Uint8Array(512 * 1024);
  let size = 0;
  const restarts: Promise<void>[] = [];
  let mismatches = 0;
  try {
    await files.writeFile(FILE, new Uint8Array(0), { sync: true });
    for (let op = 0; op < OPS; op++) {
      // Two restarts, started between operations but not awaited: they overlap the next ones.
      if (op === 80) restarts.push(restart(false));
      if (op === 160) restarts.push(restart(true));
      const choice = random();
      if (choice < 0.55) {
        const offset = Math.floor(random() * (model.length - 200_000));
        const length = 1 + Math.floor(random() * (random() < 0.2 ? 200_000 : 6000));
        const data = new Uint8Array(length);
        for (let i = 0; i < length; i++) data[i] = Math.floor(random() * 256);
        await files.write(FILE, offset, data, { sync: random() < 0.3 });
        model.set(data, offset);
        size = Math.max(size, offset + length);
      } else if (choice < 0.95) {
        const offset = Math.floor(random() * model.length);
        const length = 1 + Math.floor(random() * 50_000);
        const got = await files.read(FILE, offset, length);
        const want = model.subarray(offset, Math.min(offset + length, size));
        if (offset >= size) assert.equal(got.length, 0, `op ${op}: read past the end`);
        else if (got.length !== want.length || !got.every((b, i) => b === want[i])) mismatches++;
      } else {
        const length = Math.floor(random() * size);
        await files.truncate(FILE, length);
        model.fill(0, length);
        size = length;
      }
    }
    await Promise.all(restarts);
    assert.equal(mismatches, 0, "every read returned exactly what had been written");
    assert.equal(incarnations.length, 3, "s0 ran three times");
    assert.ok(clientNode.stats().retries > 0, "the client rode out the restarts by retrying");

    // The host file holds exactly what was written, no more, no less.
    const onDisk = Deno.readFileSync(`${root}/@lab/journal.bin`);
    assert.equal(onDisk.length, size);
    assert.ok(onDisk.every((b, i) => b === model[i]), "host file equals the reference model");
    assert.deepEqual(await files.readFile(FILE), model.subarray(0, size));

    // The managers saw s0 join again each time.
    const snapshot = (manager.monitor as StockManager).snapshot();
    const rejoins = snapshot.events.filter((e) =>
      e.type === "component.up" && e.component === "s0" && e.data?.rejoined === true
    );
    assert.equal(rejoins.length, 2);
    assert.equal(snapshot.components.find((c) => c.id === "s0")?.state, "up");
  } finally {
    await Promise.allSettled(restarts);
    for (const m of incarnations as StorageMonitor[]) await m.stop();
    await manager.monitor.stop();
    await s0.rpc.close();
    await manager.rpc.close();
    await clientNode.close();
    await transport.close();
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("a request racing a storage component's start gets EAGAIN or an answer, never UNHANDLED", async () => {
  const registry = new PluginRegistry().register(managerMonitorPlugin).register(
    storageMonitorPlugin,
  );
  for (const p of [...latencyModelPlugins, ...placementPlugins]) registry.register(p);
  const transport = createMemoryTransport();
  const latency = await registry.create<LatencyModel>("latency-model", "legoos-ib", {}, {});
  const root = Deno.makeTempDirSync({ prefix: "legoemu-starting-" });
  Deno.writeTextFileSync(`${root}/f`, "ready");
  const nodes: RpcNode[] = [];
  const monitors: Monitor[] = [];
  const create = async (id: string, kind: PluginKind, plugin: string, options: unknown) => {
    const endpoint = await transport.attach(id);
    const rpc = new RpcNode(endpoint, { defaultTimeoutMs: 1000 });
    nodes.push(rpc);
    const monitor = await registry.create<Monitor>(
      kind,
      plugin,
      options,
      createMonitorContext({
        id,
        role: kind === "manager-monitor" ? "manager" : "storage",
        manager: "gm",
        rpc,
        endpoint,
        latency,
        registry,
      }),
    );
    monitors.push(monitor);
    return monitor;
  };
  try {
    await (await create("gm", "manager-monitor", "manager", {})).start();
    const client = new RpcNode(await transport.attach("p0"));
    nodes.push(client);
    const storage = await create("s0", "storage-monitor", "storage", { root });
    const starting = storage.start();
    const racing = await Promise.all(
      [0, 1, 2].map(() =>
        client.call("s0", "P2S_READ", { path: "f", offset: 0, length: 5 }).then(
          ({ data }) => new TextDecoder().decode(data),
          (e) => (e as { code: string }).code,
        )
      ),
    );
    await starting;
    for (const outcome of racing) assert.ok(outcome === "EAGAIN" || outcome === "ready", outcome);
    const files = new StorageClient(client, { storage: "s0" });
    assert.equal(new TextDecoder().decode(await files.readFile("f")), "ready");
  } finally {
    for (const m of monitors.reverse()) await m.stop();
    for (const n of nodes) await n.close();
    await transport.close();
    Deno.removeSync(root, { recursive: true });
  }
});
